"""The benchmark (pipeline, results, tables, grids), the sampler ablation, side-by-side reports and the paper's other
experiments."""
