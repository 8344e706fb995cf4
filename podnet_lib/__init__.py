"""podnet_lib: PODNet (Douillard et al., ECCV 2020) for class-incremental learning.

The layers, lowest first (docs/architecture.md; `lint-imports` checks the directions):
- `config`, `registry`, `paper`, `progress`: the Config dataclass, named choices, the paper's numbers, log lines.
- `data`: datasets as uint8 tensors, class orders, the incremental scenario, augmentation, batches.
- `model`: backbones, POD (eqs. 1-7), the cosine and local similarity classifiers with NCA (eqs. 8-10), k-means.
- `engine`: validation, presets, methods (PODNet and baselines), memory, inference, the incremental loop, runs.
- `report`: figures, the comparison report of saved runs, the ablation tables.
- `book`: what the chapters use: settings, widgets, exercise checks, the notebook runner.
- `cli`, `bench`, `projection`: the command line, the benchmark and its wall-time projection.
"""
__version__ = "0.1.0"
