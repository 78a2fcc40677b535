"""Forecasting models: DLinear, PatchTST, TSM2. See ``registry``."""
