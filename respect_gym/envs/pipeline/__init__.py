"""``RespectPipeline-v0``: assign every node of a DNN graph to one of K pipelined Edge TPUs."""
