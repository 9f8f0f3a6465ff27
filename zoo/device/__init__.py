"""What runs the exported files without TensorFlow: LiteRT, zoo predict, zoo generate, zoo serve and the browser."""
