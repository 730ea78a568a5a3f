"""respect-gym: pipeline scheduling of DNN graphs on multiple Coral Edge TPUs."""

__version__ = "0.1.0"
