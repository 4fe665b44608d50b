"""The data: IDX files, where they live and their verified download, Transforming-MNIST/FMNIST and drift D(beta)."""
