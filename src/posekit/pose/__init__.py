"""Single-person pose models: runtime adapters (ONNX Runtime, torch) behind one ``run`` interface."""
