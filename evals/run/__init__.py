"""Running an evaluation: plan, shard, load batches, call the adapter, write records, resume, lock the folder."""
