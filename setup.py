"""Setup script: metadata lives in setup.cfg; requirements come from requirements/*.txt."""

from pathlib import Path

from setuptools import setup


def read_requirements(name: str) -> list[str]:
    path = Path(__file__).parent / 'requirements' / f'{name}.txt'
    lines = (line.split('#')[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


setup(
    install_requires=read_requirements('runtime') + read_requirements('mminstall'),
    extras_require={
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
        'deploy': read_requirements('deploy'),
    },
)
