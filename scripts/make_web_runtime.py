"""Write exports/web_page/runtime.json: the browser runtimes' files a zoo page loads, with their hashes.

Run after `make web-runtime` (npm ci in exports/web_page) whenever package.json's
pins change:

    .venv/bin/python scripts/make_web_runtime.py

Each file gets its Subresource Integrity hash (sha384, as browsers check it): a
page that loads the runtime from the CDN pins those bytes, and ``--web-runtime
DIR`` copies a local runtime only if every file has the same hash.
"""
import base64
import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "exports" / "web_page"
MODULES = HERE / "node_modules"

# What a page imports (the ES module) and which wasm files each runtime fetches itself:
# MediaPipe picks SIMD or not by what the browser supports; LiteRT.js picks relaxed SIMD
# (litert_wasm_internal) or not (compat).
RUNTIMES = {
    "mediapipe-vision": ("@mediapipe/tasks-vision", "vision_bundle.mjs", "wasm",
                         ["wasm/vision_wasm_internal.js", "wasm/vision_wasm_internal.wasm",
                          "wasm/vision_wasm_nosimd_internal.js", "wasm/vision_wasm_nosimd_internal.wasm"]),
    "mediapipe-text": ("@mediapipe/tasks-text", "text_bundle.mjs", "wasm",
                       ["wasm/text_wasm_internal.js", "wasm/text_wasm_internal.wasm",
                        "wasm/text_wasm_nosimd_internal.js", "wasm/text_wasm_nosimd_internal.wasm"]),
    "litert": ("@litertjs/core", "dist/index.js", "wasm",
               ["wasm/litert_wasm_internal.js", "wasm/litert_wasm_internal.wasm",
                "wasm/litert_wasm_compat_internal.js", "wasm/litert_wasm_compat_internal.wasm"]),
    # @litertjs/core imports this bare name: the page's import map resolves it.
    "litert-wasm-utils": ("@litertjs/wasm-utils", "dist/index.js", None, []),
}


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def main() -> None:
    out = {"cdn": "https://cdn.jsdelivr.net/npm/", "runtimes": {}}
    for name, (package, module, wasm, files) in RUNTIMES.items():
        meta = json.loads((MODULES / package / "package.json").read_text())
        out["runtimes"][name] = {
            "package": package, "version": meta["version"], "licence": meta.get("license"),
            "module": module, "wasm": wasm,
            "files": {f: sri(MODULES / package / f) for f in [module, *files]},
        }
    (HERE / "runtime.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {HERE / 'runtime.json'}")


if __name__ == "__main__":
    main()
