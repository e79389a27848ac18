"""Data and calibration sets: ``spc data download``, ``spc calib make / check``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..console import stdout
from ..errors import SpcError
from .group import cli
from .options import (CALIB_CFG, POSITIVE, SEED, cfg_option, config_file_option, data_config, data_flags, make_config)


@cli.group()
def calib():
    """Calibration sets: make a manifest, check it against a data folder."""


@calib.command(name="make")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@cfg_option(CALIB_CFG, "n_clips", "--n", type=POSITIVE, help="Clips in the set.")
@click.option("--out", "out", help="Manifest name or path (NAME -> NAME.json).")
@cfg_option(CALIB_CFG, "split", "--split", type=click.Choice(["validation", "train", "test"]),
            help="Where clips are drawn from (test is refused).")
@cfg_option(CALIB_CFG, "rule", "--rule", type=click.Choice(["class-balanced", "random"]))
@cfg_option(CALIB_CFG, "seed", "--seed", type=SEED)
@click.option("--from", "rule_file", type=click.Path(exists=True, dir_okay=False), help="Build from a rule file.")
@config_file_option
@data_flags
@click.pass_context
def calib_make(ctx, data_dir, out, rule_file, config_file, **_):
    """Draw a reproducible calibration set from DATA and write its manifest.

    \b
    Examples:
      spc calib make --data ../shared/data/fsdd --n 256 --out fsdd-256
      spc calib make --data other-copy --config fsdd-256.json --out again   # the same draw on another copy
    """
    from ..calib.manifest import make_from_rule, make_manifest, manifest_file, manifest_hash, save_manifest
    from ..fileio import refuse_overlap

    if not out and not rule_file:
        raise SpcError("calib make needs --out NAME (or --from RULE)")
    out = out or Path(rule_file).name.replace(".rule.json", "")
    refuse_overlap({"calibration manifest": manifest_file(out)}, {"data folder": data_dir, "rule file": rule_file})
    if rule_file:
        manifest = make_from_rule(rule_file, data_dir)
    else:
        config = make_config(ctx, CALIB_CFG, *_older_manifest(config_file))
        ds = data_config(ctx).open(show_notes=True)
        manifest = make_manifest(ds, config, name=str(out))
    path = save_manifest(manifest, out, data_dir)
    labels = {}
    for c in manifest["clips"]:
        labels[c["label"]] = labels.get(c["label"], 0) + 1
    stdout().print(f"{path}: {manifest['n']} clips from {manifest['split']} ({manifest['rule']}, seed {manifest['seed']}), "
                   f"{len(labels)} classes, hash {manifest_hash(manifest)}")


def _older_manifest(config_file):
    """(config file, base): a manifest written before manifests recorded their config gives its draw as a base."""
    if config_file:
        from ..calib.manifest import CalibConfig
        from ..fileio import read_json

        data = read_json(config_file, "config file")
        if "config" not in data and {"n", "split", "rule", "seed"} <= set(data):
            return None, CalibConfig(int(data["n"]), str(data["split"]), str(data["rule"]), int(data["seed"]))
    return config_file, None


@calib.command(name="check")
@click.argument("name")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
def calib_check(name, data_dir):
    """Say which clips of manifest NAME are missing from DATA or changed (exit 1 if any)."""
    from ..calib.manifest import check_manifest, load_manifest

    status = check_manifest(load_manifest(name), data_dir)
    for p in status["missing"]:
        stdout().print(f"missing  {p}")
    for p in status["changed"]:
        stdout().print(f"changed  {p}")
    stdout().print(f"{status['clips']} clips: {len(status['missing'])} missing, {len(status['changed'])} changed")
    if not status["ok"]:
        sys.exit(1)


@cli.group()
def data():
    """Data sets: download."""


@data.command()
@click.argument("name", type=click.Choice(["speech-commands"]))
@click.argument("dest", type=click.Path())
def download(name, dest):
    """Download and unpack a data set (Speech Commands v0.02, 2.3 GB) into DEST."""
    from ..data.download import download_speech_commands

    path = download_speech_commands(Path(dest))
    stdout().print(f"Speech Commands v0.02 in {path}")
