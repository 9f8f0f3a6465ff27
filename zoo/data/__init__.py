"""What data is: input specs, layouts and tasks, datasets and their file readers, tokenizers, pretrained weights, model cards."""
