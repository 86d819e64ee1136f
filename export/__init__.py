"""Export tools: torch -> ONNX, parity checks, registry records (installed as ``mediqa_sdk.export``)."""
