"""Commands that train and look at runs: zoo train, evaluate, runs, tune, report, compare."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from zoo.api import plugins
from zoo.cli.base import _data_options, _echo_json, _table, cli, data_options, printable, verbose_option
from zoo.train.recipes import MAX_BATCH_SIZE, MAX_SEED


@cli.command()
@click.argument("architecture", required=False)
@click.argument("dataset", required=False)
@click.option("--recipe", help="Recipe: tuned (default) or tutorial, or a recipe file (zoo tune's best-recipe.json).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Architecture hyperparameter, e.g. -p filters=32,64,128 (see zoo show ARCH).")
@click.option("--epochs", type=click.IntRange(min=1), help="Maximum epochs.")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), help="Batch size.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), help="Initial learning rate.")
@click.option("--optimizer", type=click.Choice(["adam", "adamw", "sgd", "rmsprop", "nadam"],
                                               case_sensitive=False), help="Optimizer.")
@click.option("--validation-split", type=click.FloatRange(0, 1, max_open=True),
              help="Fraction of the training set held out for validation; 0 trains on all of it "
              "(the kept model is then the one with the lowest training loss).")
@click.option("--patience", type=click.IntRange(min=1), help="Early stopping patience (epochs).")
@click.option("--monitor", type=click.Choice(["val_loss", "val_accuracy"]),
              help="Validation figure that picks the best epoch (kept model, early stopping).")
@click.option("--augment", metavar="NAME", default=None,
              help="Augment images: none, tutorial (rotate/zoom/shear/shift/flip), flip-shift, shift, "
                   "geometric (all but flip), or transformations joined by '+' (shift+rotate); "
                   "only what the dataset allows (see zoo show DATASET).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), help="Random seed (default 0).")
@click.option("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@data_options
@click.option("--output", "-o", type=click.Path(), help="Run directory (default runs/ARCH-DATASET-TIME).")
@click.option("--resume", metavar="RUN", help="Continue an interrupted run from its last finished epoch.")
@click.option("--from", "start_from", metavar="RUN",
              help="Start from a finished run's weights (same architecture and input; a new head when the "
                   "classes differ).")
@click.option("--qat", "quantization_aware", is_flag=True,
              help="With --from RUN: fine-tune RUN's weights through int8's rounding (quantization-aware "
                   "training) for its recipe's qat_epochs, so that zoo export --quantize int8 keeps its accuracy; "
                   "ARCH, DATASET and settings default to RUN's.")
@click.option("--tensorboard", is_flag=True, help="Write TensorBoard logs into the run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--strategy", type=click.Choice(["auto", "one-device", "mirrored", "multi-worker"],
                                              case_sensitive=False), default="auto", show_default=True,
              help="tf.distribute strategy: several GPUs (mirrored) or several machines (multi-worker).")
@click.option("--devices", metavar="DEV,DEV", help="Devices for one-device/mirrored, e.g. GPU:0,GPU:1 "
              "(CPU:0,CPU:1 splits the CPU into logical devices).")
@click.option("--cluster", metavar="HOST:PORT,...", help="Multi-worker: every worker's address, the "
              "chief first (instead of TF_CONFIG); the same on every worker.")
@click.option("--task-index", type=click.IntRange(min=0), metavar="I",
              help="Multi-worker: this worker's position in --cluster (0: the chief).")
@verbose_option
def train(architecture, dataset, recipe, params, epochs, batch_size, learning_rate, optimizer,
          validation_split, patience, monitor, augment, seed, data_dir, image_size, color, tokenizer, output, resume,
          start_from, quantization_aware, tensorboard, quiet, strategy, devices, cluster, task_index):
    """Train ARCHITECTURE on DATASET into a run directory.

    Example: zoo train lstm-bn fashion-sample

    On several machines, start the same command on every one, e.g.
    zoo train dense fashion -o runs/d --cluster a:2222,b:2222 --task-index 0 (1 on b).
    """
    from zoo.train import recipes, trainer

    parsed = {}
    if params and resume:  # unparsed: train() refuses -p with --resume
        parsed = {item.partition("=")[0]: item for item in params}
    elif params and architecture:
        parsed = recipes.parse_params(plugins.get("architecture", architecture), params)
    overrides = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                 "optimizer": optimizer and optimizer.lower(), "validation_split": validation_split,
                 "patience": patience, "monitor": monitor}
    if augment is not None:
        overrides["augment"] = augment
    verbose = 0 if quiet else (1 if sys.stdout.isatty() else 2)
    result = trainer.train(architecture, dataset, recipe=recipe, overrides=overrides, params=parsed,
                           seed=seed, data_dir=data_dir, output=output, resume=resume,
                           tensorboard=tensorboard, verbose=verbose, strategy=strategy.lower(),
                           devices=devices, cluster=cluster, task_index=task_index,
                           data_options=_data_options(image_size, color, tokenizer), start_from=start_from,
                           quantization_aware=quantization_aware)
    m = result.metrics
    if "worker" in m:  # a multi-worker job's other workers: the chief reports the run
        click.echo(f"worker {m['worker']} of {m['workers']} finished after {m['epochs_run']} epochs "
                   f"({m['training_seconds']:.1f} s); final weights sha256 {m['final_weights_sha256']}")
        return
    from zoo.data import tasks

    click.echo(f"{result.config['architecture']} on {result.config['dataset']}: "
               f"{tasks.headline(result.config, m)} after {m['epochs_run']} epochs "
               f"({m['training_seconds']:.1f} s); run written to {result.run_dir}")


@cli.command()
@click.argument("run", required=False)
@click.option("--dataset", help="Evaluate on another dataset of the same shape and classes.")
@click.option("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@verbose_option
def evaluate(run, dataset, data_dir, as_json):
    """Re-evaluate a saved RUN (default: the newest) on its test set."""
    from zoo.train import trainer

    result = trainer.evaluate(run, dataset, data_dir)
    if as_json:
        _echo_json(result)
        return
    count = result.get("test_images", result.get("test_examples"))
    loss = f", loss {result['test_loss']:.4f}" if isinstance(result.get("test_loss"), (int, float)) else ""
    click.echo(f"{result['run']} on {result['dataset']}: {result['headline']}{loss} ({count} examples)")
    for name, acc in result.get("per_class_accuracy", {}).items():
        click.echo(f"  {name:<14} {acc:.4f}")


@cli.command(name="runs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs_command(as_json):
    """List runs (newest first) with architecture, dataset, accuracy and date."""
    from zoo.data import tasks
    from zoo.run import runs

    found = runs.list_runs()
    if as_json:
        _echo_json([{"name": r["name"], "path": r["path"], "architecture": r["config"].get("architecture"),
                     "dataset": r["config"].get("dataset"), "recipe": r["config"].get("recipe"),
                     "created": r["config"].get("created"),
                     "status": "damaged" if r["damage"] else r["config"].get("status"),
                     "damage": r["damage"],
                     "test_accuracy": (r["metrics"] or {}).get("test_accuracy"),
                     "headline": tasks.headline(r["config"], r["metrics"]) if r["metrics"] else None}
                    for r in found])
        return
    if not found:
        click.echo(f"no runs under {runs.runs_root()}/")
        return

    def cell(run, key):
        value = run["config"].get(key, "?")
        return printable(str(value))

    _table([[printable(r["name"]), cell(r, "architecture"), cell(r, "dataset"), cell(r, "recipe"),
             tasks.figure(r["config"], r["metrics"]) if r["metrics"] else "-", cell(r, "created"),
             f"damaged: {r['damage']}" if r["damage"] else cell(r, "status")] for r in found],
           ["RUN", "ARCH", "DATASET", "RECIPE", "RESULT", "CREATED", "STATUS"])


@cli.command(name="tune")
@click.argument("architecture", required=False)
@click.argument("dataset", required=False)
@click.option("--trials", type=click.IntRange(min=1), default=10, show_default=True,
              help="Trials the study holds when done (a resumed study runs the rest).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Start no new trial after S seconds.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs per trial (default: the recipe's).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="The study's seed (every trial trains with it).")
@click.option("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@click.option("--output", "-o", type=click.Path(), help="Study directory (default runs/tune-ARCH-DATASET-TIME).")
@click.option("--resume", metavar="DIR", help="Continue a study after a kill or Ctrl-C.")
@verbose_option
def tune_command(architecture, dataset, trials, timeout, epochs, seed, data_dir, output, resume):
    """Search ARCHITECTURE's hyperparameters on DATASET with Optuna; every trial is a zoo run.

    Judged on the validation set; the best trial's recipe is written as
    best-recipe.json for zoo train --recipe FILE. Needs pip install 'zoo[tune]'.
    """
    from zoo.train import tune

    result = tune.tune(architecture, dataset, trials=trials, timeout=timeout, epochs=epochs, seed=seed,
                       data_dir=data_dir, output=output, resume=resume,
                       log=lambda message: click.echo(message, err=True))
    click.echo(f"best: trial {result.best_trial} of {result.trials}, {result.monitor} {result.best_value:.4f}; "
               f"recipe written to {result.recipe_file}")
    click.echo(result.command)


@cli.command(name="report")
@click.argument("run", required=False)
def report_command(run):
    """Write RUN/report.html (default: the newest run): one self-contained page of the run.

    zoo train writes it at the end and zoo export refreshes it; open it in any browser.
    """
    from zoo.reports import report
    from zoo.run import runs

    click.echo(report.write(runs.resolve_run(run, need_model=False)))


@cli.command(name="compare")
@click.argument("run_patterns", nargs=-1, required=True, metavar="RUN...")
@click.option("--dataset", help="Only the runs on this dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a page with the table and the validation curves overlaid.")
def compare_command(run_patterns, dataset, as_json, html_path):
    """Finished runs side by side: settings that differ, epochs, time, scores, export sizes.

    RUN is a run directory, a run's name, or a wildcard over names
    ('cnn-fashion-*'; quote it).
    """
    from zoo.reports import compare

    chosen = compare.select(run_patterns, dataset)
    result = compare.compare(chosen)
    if html_path:
        compare.write_html(result, chosen, Path(html_path))
    if as_json:
        _echo_json(result)
    else:
        headers, rows = compare.text_rows(result)
        _table([[printable(str(c)) for c in row] for row in rows], headers)
    if html_path:
        click.echo(f"wrote {html_path}", err=as_json)
