"""Multi-teacher distillation on unlabeled data (dissertation ch. 4)."""
