"""The training engine: models and architectures, stacked and functional training, the run store, executors,
orchestration (train_all), evaluation and its cache, nu tuning. Never imports a command."""
