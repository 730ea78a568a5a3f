"""Bring your own model: ``.tflite`` and ONNX files as respect-gym graphs, and per-stage ``.tflite``
segments of a schedule to deploy with the Edge TPU pipelining runtime.

The ``tflite`` and ``onnx`` packages are optional (extras ``tflite`` / ``onnx``) and imported only
when a file of their kind is read.
"""
