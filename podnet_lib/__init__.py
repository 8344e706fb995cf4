"""podnet_lib: PODNet (Douillard et al., ECCV 2020) for class-incremental learning.

Modules, one idea each: `data` (datasets, class orders, scenario, augmentation), `backbones`,
`pod` (eqs. 1-7), `classifiers` (eqs. 8-10), `memory` (herding), `inference` (NME, CNN),
`methods` (PODNet and baselines), `train` (the incremental loop), `metrics`, `plots`,
`results`, `presets`, `experiment`, `cli`.
"""
__version__ = "0.1.0"
