"""mmcofnet: COFNet, a detector for small objects in the sky, as an MMDetection 3.x add-on.

Importing the package registers every component in mmdet's registries; configs load it with
``custom_imports = dict(imports=['mmcofnet'], allow_failed_imports=False)``.
"""

import mmcv
import mmdet
import mmengine
from mmengine.utils import digit_version

from .version import __version__

_REQUIREMENTS = {  # package: (module, minimum inclusive, maximum exclusive)
    'mmcv': (mmcv, '2.0.0', '2.2.0'),
    'mmengine': (mmengine, '0.7.1', '1.0.0'),
    'mmdet': (mmdet, '3.0.0', '4.0.0'),
}


def _check_versions() -> None:
    for name, (module, low, high) in _REQUIREMENTS.items():
        version = digit_version(module.__version__)
        if not digit_version(low) <= version < digit_version(high):
            raise ImportError(
                f'mmcofnet {__version__} needs {name}>={low},<{high}, but '
                f'{name}=={module.__version__} is installed; run tools/setup.sh'
            )


_check_versions()

from .utils import register_checkpoint_safe_globals  # noqa: E402

register_checkpoint_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registers the components)

__all__ = ['__version__']
