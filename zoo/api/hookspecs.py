"""The plugin API: one hook per extension point. These docstrings are its reference.

A plugin is a module (or object) with functions marked ``@zoo.hookimpl`` whose
names match the specs below. Each hook receives a ``register`` callback and
calls it once per entry it provides; zoo owns collecting, de-duplicating and
listing. Hooks are called with keyword arguments, so an implementation may
accept fewer arguments than its spec: specs may gain arguments, never lose them.

Third-party plugins are packages (by convention named ``zoo-<name>``) that
declare an entry point in the group ``zoo``::

    [options.entry_points]
    zoo =
        gru = zoo_gru

The built-in architectures, datasets, exporters, tasks and layouts register
through exactly these hooks.

What zoo guarantees around every call into plugin code (``zoo.calls``):

* Each entry point is imported and its hooks are called on its own. One that
  fails to import, raises inside a hook, or registers something of the wrong
  type is reported once on stderr and shown as ``broken`` in ``zoo plugins``;
  it registers nothing, and every other entry point (of the same
  distribution too) keeps working.
* ``locate``, ``load``, ``build`` and ``export`` are contained: raising one of
  zoo's errors (``zoo.errors.DataError`` for a data file, ``UsageError`` for a
  setting the user gave) prints its message as it is; a builder's
  ``ValueError`` means "this input does not fit" (a usage error, exit 2);
  anything else, or a result that breaks the contract below, is one line
  naming the entry and its distribution (``zoo.errors.PluginError``, exit 1).
  Nothing is written when a plugin call fails.
"""
import pluggy

hookspec = pluggy.HookspecMarker("zoo")


@hookspec
def register_architectures(register):
    """Register model architectures.

    Args:
        register: call ``register(zoo.Architecture(...))`` once per
            architecture: ``name``, ``summary``, ``build``, ``accepts``
            (input kinds, ``("image",)``), ``params`` (name ->
            ``zoo.registry.Param`` with default, help and optional
            ``low``/``high``/``choices``/``max_length``; every ``-p`` value
            and every recipe file's param is checked against its type and
            these bounds, so give each number a ``high``: ``build`` never
            sees a value outside them) and ``recipes`` (``zoo.Recipe``;
            ``tutorial`` and ``tuned``; a recipe's ``note`` is the line
            ``zoo show`` prints for it, ``min_steps`` lets it shrink its
            batch on a small dataset, and ``data_options`` names the dataset
            options it was measured with, e.g. ``{"image_size": (224, 224)}``)
            and optionally ``weights``: pretrained weights it offers, tag ->
            ``zoo.weights.Weights`` (source file or URL, SHA-256, licence,
            input size, colour, mean and std, what it was trained on, its
            scores, and ``convert(source, destination)`` writing Keras
            ``.weights.h5``); ``build`` gets their converted, hash-checked
            file from ``zoo.weights.keras_weights(name, weights)``.

    zoo calls ``build(input_shape, classes, **params, task=task, spec=spec)``
    only when a model is needed: ``input_shape`` is the dataset's example shape (an
    image ``(28, 28)`` or ``(32, 32, 3)``, a sequence ``(time steps,
    features)``), ``classes`` the number of output units (``task.units``),
    ``params`` every hyperparameter resolved (defaults, recipe, ``-p``) and
    ``task`` the dataset's task (``zoo.tasks.Classification`` or
    ``Regression``; passed when ``build`` takes a ``task`` argument, and a
    builder without one is used for classification only) and ``spec`` the
    dataset's ``zoo.spec.InputSpec`` (layout, dtype, scale, channels;
    passed when ``build`` takes a ``spec`` argument; its ``layout`` is a good
    name for the input). It must return a
    ``keras.Model`` with one input of ``input_shape`` that ends in the task's
    head: ``zoo.tasks.head(x, task)`` (softmax units per class, or linear
    units per output) so that the architecture fits any task. Raise
    ``ValueError`` for an input or a value it cannot handle; zoo reports it
    as a usage error before any training. zoo checks the type, the single
    input (of ``input_shape``) and output, the number of output units, and that a classifier's
    outputs are probabilities (a forgotten softmax is refused). ``accepts``
    lists the input kinds it reads (``"image"``, ``"sequence"``,
    ``"vector"``). Import TensorFlow and Keras inside ``build``, never at
    module level: listing must stay fast.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    Args:
        register: call ``register(zoo.DatasetEntry(...))`` once per dataset:
            ``name``, ``summary``, ``load``, ``spec`` (a ``zoo.spec.InputSpec``
            of one example: ``zoo.spec.image((28, 28), "uint8")``,
            ``zoo.spec.sequence((100, 2))``, ``zoo.spec.vector((13,))``; the
            fields known without reading data, None for the rest, as the
            shape of a user's folder), and where known, ``class_names`` or
            ``task`` (a ``zoo.tasks`` task); optionally ``locate``, and
            ``recipes``: architecture name -> {recipe name -> ``zoo.Recipe``},
            which take the place of that architecture's recipes of the same
            name on this dataset (a tutorial's settings for its own data).

    zoo calls ``load(data_dir=None, seed=0)`` (``--data-dir`` and ``--seed``)
    and expects a ``zoo.dataset.Dataset``: examples (N, ...) as integers or
    floats, with their ``spec`` (the entry's; model input is
    ``float32(x) * spec.scale + spec.offset``, and ``stored_range`` says
    black and white where they are not (0, 255) for integers or (0, 1) for
    floats); and targets for its ``task``: for
    ``Classification(class_names)`` (the default) integer labels (N,)
    indexing ``class_names``, for ``Regression(outputs, tolerance)`` numbers
    (N,) or (N, outputs). zoo checks every loaded dataset: array types and
    lengths, non-empty splits, no zero-sized examples, equal train and test
    shapes, examples that fit the layout (an image has 2 axes or 1, 3 or 4
    channels, a sequence 2 axes, a vector 1), every field the entry's
    ``spec`` declares (shape, dtype, channels, scale), ``class_names`` and task, labels in
    range or targets that are finite numbers, no NaN or infinity, class
    names that are unique, non-empty and free of newlines, and for images
    that the stored values fit their black and white (data stored 0..16
    must declare ``stored_range=(0, 16)``: ``zoo predict`` maps an image
    file's 0..255 onto it). A failed check is a data error naming the
    dataset and its plugin (and ``source["path"]`` where the ``Dataset``'s
    ``source`` dict has one). ``Dataset(name, class_names, x_train, y_train,
    x_test, y_test, spec=, task=, source=)``: ``class_names`` is the
    classes in label order (``()`` for a regression, whose names are
    ``task.outputs``); ``source`` is what ``zoo show`` prints and the run
    records of where the data came from. Text is token ids:
    ``spec=zoo.spec.text(length, tokenizer)`` with ``tokenizer=`` the fitted
    ``zoo.tokenizer.Tokenizer`` (zoo writes it as ``tokenizer.json`` beside
    the run and the export) and, optionally, ``test_texts=`` the test split
    as read (``zoo export --mediapipe`` verifies the file on them with
    MediaPipe's own tokenizer). Raise ``zoo.errors.DataError``
    naming the file for a missing or damaged file; an ``OSError`` (a
    permission denied) is reported as the user's file, naming its path.

    ``locate(data_dir=None)`` says cheaply, without reading the data, where
    the dataset would load from (a str), or returns None if it is not here.
    ``zoo list datasets`` calls it for every dataset.

    The older short form, ``input_kind`` + ``input_shape`` on the entry and
    ``pixel_scale`` / ``input_kind`` / ``stored_range`` on the Dataset, still
    works and means the same spec. A ``spec`` that contradicts itself (a
    layout zoo does not know, a shape of the wrong rank) is refused when the
    plugin registers: ``zoo list`` warns that the plugin is broken.
    """


@hookspec
def register_exporters(register):
    """Register export formats.

    Args:
        register: call ``register(zoo.Exporter(...))`` once per format:
            ``name``, ``summary``, ``export``, ``suffixes`` (of the files it
            writes) and ``options`` (name -> ``zoo.Param``: type, help,
            default and checks, as an architecture's; each becomes a ``zoo
            export`` flag, ``int8_io`` -> ``--int8-io``, and reaches
            ``export`` in ``context.options``; ``zoo export`` refuses an
            option no selected exporter takes, and a value none of them
            takes); optionally ``flag_help`` (the help of ``--NAME``, a flag
            that selects it, as ``--tflite`` does);
            optionally ``needs`` (``needs(config)``: the exporters whose
            files it builds on for this run, run before it: the web page
            needs ``mediapipe`` or ``tflite``) and ``prepare``
            (``prepare(options, config)``, before the model is loaded:
            raise a ``ZooError`` to refuse a run or option in one line
            before minutes of converting).

    zoo calls ``export(context)`` with a ``zoo.export.ExportContext``: the
    Keras model, the run's config and dataset, ``x_test`` (the test set as
    model input) and ``reference`` (the Keras model's probabilities on it),
    and ``directory``, a temporary directory moved in place only when every
    exporter succeeded. The exporter writes its files into ``directory``,
    runs each through ``context.verify(name, probabilities, quantized)``
    (the file's own outputs on ``x_test``; a failure drops the file, and
    ``hint=`` adds what to try instead to its error) or drops
    it with ``context.fail(name, message)``, and returns a list with one dict
    per file: ``{"file": name}`` plus anything it wants in the model card.
    zoo checks the list, that each file exists and was verified (a file not
    verified is not published: nothing is written), and fills in
    ``format``, ``size_bytes``, ``sha256`` and the verification figures
    (``test_accuracy``, ``agreement``, ``max_abs_diff``, ``verified``).
    """


@hookspec
def register_tasks(register):
    """Register tasks: what a dataset asks of a model.

    Args:
        register: call ``register(TaskClass)`` once per task: a frozen
            dataclass subclassing ``zoo.tasks.Task``, whose class attribute
            ``kind`` is its name (recorded in config.json and model cards)
            and ``summary`` one line for ``zoo list tasks``.

    A dataset declares an instance (``zoo.DatasetEntry(task=...)``,
    ``Dataset(task=...)``); zoo rebuilds it from a run's config or a card
    with ``TaskClass.restore(described, class_names)`` (``described`` is
    the instance's ``describe()``, which must hold ``"kind"``). The task
    owns everything that differs by it, so any architecture fits it: the
    head (``units``, ``activation``, ``head_name``; builders call
    ``zoo.tasks.head(x, task)``), ``targets(y)``, ``problem(y, split)``
    and ``dataset_problem(dataset, declared_classes)`` (checks of loaded
    targets), ``compile_args()`` (Keras loss and metrics), ``encode``
    (targets inside tf.data), ``monitors``, ``scores(outputs, y)``
    (metrics.json; ``metrics_fields`` must be among them), ``headline`` and
    ``figure`` (what ``zoo train`` and ``zoo runs`` print), ``plot`` (the
    run's figures), ``compare(name, outputs, reference, labels,
    quantized)`` (a ``zoo.tasks.Check`` judging an exported file against
    Keras), ``card_output()`` and ``answer(row, top_k)`` (what ``zoo
    predict`` prints for one example). ``zoo.tasks.Task`` gives defaults;
    ``zoo.tasks.Regression`` is a complete example.
    """


@hookspec
def register_layouts(register):
    """Register layouts: what one example is (an image, a sequence, a vector, token ids).

    Args:
        register: call ``register(zoo.layouts.Layout(...))`` (or an
            instance of a subclass) once per layout: ``name`` (what input
            specs write: ``zoo.spec.InputSpec(layout=name)``), ``summary``,
            ``axes`` (the meaning of an example's axes) and ``ranks`` (how
            many axes it may have).

    The layout owns everything that differs by it: its spec checks
    (``shape_problem``), checks of loaded examples (``data_problem``), how
    an example is drawn in a report (``draw``), the model card's word on
    feeding a file to the model (``card_input``), how ``zoo predict`` reads
    the user's files (``runner_settings``, ``gather``, ``feed``), the web
    page's widget (``page_input``), which MediaPipe Tasks family reads it
    (``mediapipe``, None for none) and whether image transformations apply
    (``augments``). The defaults of ``zoo.layouts.Layout`` fit examples that
    are arrays of numbers read from ``.npy`` and ``.csv`` files.
    """
