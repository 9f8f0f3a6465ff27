"""What the benchmark is measured against: published figures and zoo's targets.

Data, not code: ``bench/__main__`` (which measures) and ``bench/report``
(which writes RESULTS.md) both read these, neither from the other.
"""

ARCHITECTURES = ("dense", "cnn", "vgg", "simplernn", "lstm-bn")

# The book's NSMC model (7.27-7.30): test accuracy it printed after 5 epochs.
NSMC_PUBLISHED = 0.80038
# The tuned NSMC recipe's target (issue 28): a mean of at least 0.86 over seeds, each fit in 20 minutes.
NSMC_TARGET, NSMC_FIT_SECONDS = 0.86, 20 * 60

# The CNN/RNN tutorial's multiplication problem: correctness (share of the 440
# test predictions within 0.04 of the truth) it published for each model.
SEQUENCE_PUBLISHED = {"simplernn": 0.0977, "lstm-bn": 0.9568,
                      # The book's notebook (7.15-7.18); the example plugin zoo-gru with the book's recipe.
                      "gru": 0.9886}

# What the tutorials published, and the official Fashion-MNIST benchmark's
# entries for similar models (zalandoresearch/fashion-mnist README).
PUBLISHED = {
    "dense": "0.8758 (Flatten-128-10, 5 epochs); 0.8896 (256-64, 30 epochs)",
    "cnn": "0.8881",
    "vgg": "0.9277; 0.9199 with augmentation",
    "simplernn": "0.9307 on MNIST",
    "lstm-bn": "(not published)",
}
OFFICIAL = {
    "dense": "MLP 256-128-100: 0.883",
    "cnn": "2 conv + pooling: 0.916; 3 conv + pooling + 2 FC + dropout: 0.926",
    "vgg": "VGG16 (26M parameters): 0.935",
    "simplernn": "GRU+SVM with dropout: 0.897",
    "lstm-bn": "GRU+SVM with dropout: 0.897",
}
TARGETS = {  # tuned accuracy (mean of 3 seeds), training budget in seconds (mean)
    "dense": (0.905, 5 * 60), "cnn": (0.935, 20 * 60), "vgg": (0.945, 60 * 60),
    "simplernn": (0.890, 10 * 60), "lstm-bn": (0.912, 15 * 60),
}
# The test accuracy each tutorial published on Fashion-MNIST: the mark of the
# time-to-accuracy table. Where none was published on this data (simplernn's
# is on MNIST, lstm-bn's none), the tutorial recipe's own final accuracy in the
# same sitting is the mark.
PUBLISHED_ACCURACY = {"dense": 0.8758, "cnn": 0.8881, "vgg": 0.9277}

# Issue 29's target: efficientnet-lite0 fine-tuned on 1,000 photos a class.
PHOTOS_TARGET, PHOTOS_FIT_SECONDS = 0.85, 15 * 60

# Object detection on the raccoon photos (issue 39): mAP@0.5, mean of 3 seeds, and the slowest fit.
DETECTION_MAP50 = 0.80
DETECTION_FIT_SECONDS = 20 * 60
