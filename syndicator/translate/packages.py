"""Install and list argos packages (``syndicator models install|list``).

Installing goes through argostranslate's own ``install_from_path`` after the
package is checked, so a broken file is refused with a reason instead of
leaving a folder that breaks every later call. Installing by language code
needs the Argos package index, which is fetched here with a short timeout:
offline, argostranslate's own index update ends in a RecursionError after
about 47 s.
"""
from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path

import httpx

from ..errors import ModelError
from .argos import Package, installed_packages

log = logging.getLogger(__name__)


def _argos(packages_dir: Path):
    """Import argostranslate pointed at ``packages_dir``.

    argostranslate reads its environment once, at import; setting the module
    attribute as well covers a process that imported it already.
    """
    os.environ.setdefault("ARGOS_PACKAGES_DIR", str(packages_dir))
    import argostranslate.package
    import argostranslate.settings

    argostranslate.settings.package_data_dir = packages_dir
    argostranslate.settings.package_dirs = [packages_dir]
    return argostranslate


def check_package_file(path: Path) -> tuple[dict, str]:
    """Refuse anything that is not a complete argos package; return its metadata and
    its top-level folder (the folder it installs into)."""
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not an .argosmodel (it must be a zip archive)")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) != 1:
            raise ModelError(f"{path}: must hold exactly one top-level folder, found {sorted(tops)}")
        top = tops.pop()
        for needed in ("metadata.json", "model/model.bin", "sentencepiece.model"):
            if f"{top}/{needed}" not in names:
                raise ModelError(f"{path}: {top}/{needed} is missing")
        try:
            meta = json.loads(archive.read(f"{top}/metadata.json"))
        except ValueError as exc:
            raise ModelError(f"{path}: metadata.json is not valid JSON ({exc})") from None
    for key in ("from_code", "to_code"):
        if not isinstance(meta.get(key), str):
            raise ModelError(f"{path}: metadata.json has no {key!r}")
    return meta, top


def install_file(path: Path, packages_dir: Path) -> Package:
    meta, top = check_package_file(path)
    packages_dir.mkdir(parents=True, exist_ok=True)
    _argos(packages_dir).package.install_from_path(path)
    for package in installed_packages(packages_dir):
        # The package just installed, not another version of the same pair.
        if package.path.name == top:
            log.info("installed argos package %s from %s", package.name, path)
            return package
    raise ModelError(f"{path}: installed, but no package for "
                     f"{meta['from_code']}→{meta['to_code']} appeared in {packages_dir}")


def install_code(code: str, source_language: str, packages_dir: Path) -> list[Package]:
    """Install the packages between ``source_language`` and ``code`` from the Argos index."""
    argos = _argos(packages_dir)
    index_url = argos.settings.remote_package_index
    try:
        response = httpx.get(index_url, timeout=15, follow_redirects=True)
        response.raise_for_status()
        json.loads(response.content)
    except (httpx.HTTPError, ValueError) as exc:
        raise ModelError(
            f"cannot read the Argos package index at {index_url} ({exc}). Offline? Download "
            f"the .argosmodel on a connected machine and run "
            f"`syndicator models install FILE.argosmodel`.") from None
    Path(argos.settings.local_package_index).write_bytes(response.content)
    wanted = {(source_language, code), (code, source_language)}
    available = [p for p in argos.package.get_available_packages()
                 if (p.from_code, p.to_code) in wanted]
    if not available:
        raise ModelError(f"the Argos index has no package between {source_language!r} and "
                         f"{code!r}; see docs on other engines")
    installed = []
    for package in available:
        try:
            path = package.download()
        except Exception as exc:  # argostranslate raises bare Exception on a failed download
            raise ModelError(f"downloading {package} failed: {exc}") from None
        installed.append(install_file(Path(path), packages_dir))
    return installed
