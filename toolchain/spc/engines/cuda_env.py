"""What a GPU target needs, checked up front: TensorRT 10.3+, cuda-python 12.x and a CUDA device.

cuda-python's bindings from 12.9 on link the CUDA runtime statically, and a runtime newer than the driver fails
with cudaErrorInsufficientDriver (error 35; seen on Orin with cuda-python 12.9 over JetPack 6's 12.6 driver,
jetpack-nixos#328): the ``jetson`` extra pins the cuda-python of JetPack 6.1/6.2's CUDA 12.6, as jetson-containers
pins cuda-python to the board's CUDA; desktops take ``cuda-python>=12.2,<13`` (cuda-python 13 needs driver 580+).
TensorRT must be 10.3 or newer (JetPack 6.1+, L4T r36.4): JetPack 6.0 ships TensorRT 8.6, whose
``create_network(0)`` makes an implicit-batch network that the ONNX parser refuses and which has no
``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` (TensorRT 8.6 and 10.3 Python API references).
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

from ..errors import SpcError
from .backends.backend import BuildCheck, BuildDeferred

#: the oldest TensorRT spc builds and runs engines with (JetPack 6.1's)
MIN_TENSORRT = (10, 3)
#: where a Jetson names its board ("NVIDIA Jetson Orin Nano Developer Kit"), in the order read: the user's setting,
#: jetson-containers' copy (Docker masks /proc/device-tree inside a container: its run.sh copies the model string to
#: /tmp/nv_jetson_model), the device tree, the firmware's own path. Absent on desktops.
BOARD_ENV = "SPC_JETSON_MODEL"
BOARD_FILES = (Path("/tmp/nv_jetson_model"), Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model"))
BOARD_MODEL = BOARD_FILES[1]
#: present on every L4T system (a Jetson, or a container of one with /etc mounted): "# R36 (release), REVISION: 4.0"
TEGRA_RELEASE = Path("/etc/nv_tegra_release")

#: cudaErrorInsufficientDriver, cudaErrorSystemDriverMismatch: the driver cannot run this CUDA runtime
DRIVER_TOO_OLD = 35
DRIVER_MISMATCH = 803
NO_DEVICE = 100

#: the cuda-python a JetPack 6.1/6.2 board runs: its CUDA 12.6 (pyproject's `jetson` extra pins the same)
JETSON_CUDA_PYTHON = "cuda-python>=12.6,<12.7"
INSTALL_HINT = "`pip install 'spc[tensorrt]'` on a desktop GPU, `pip install 'spc[jetson]'` on a Jetson (see the README)"


def import_tensorrt():
    """``tensorrt`` 10.3+, or a one-line user error saying what is missing or too old."""
    try:
        import tensorrt as trt
    except ImportError:
        raise SpcError(f"TensorRT is not installed here. On a GPU machine install {INSTALL_HINT}; "
                       "elsewhere use --target cpu.") from None
    check_tensorrt_version(getattr(trt, "__version__", ""))
    return trt


def check_tensorrt_version(version: str) -> None:
    """A user error for TensorRT older than 10.3 (or a version that cannot be read)."""
    m = re.match(r"(\d+)\.(\d+)", str(version))
    if m is None:
        raise SpcError(f"cannot read the TensorRT version ('{version}'): spc needs TensorRT 10.3 or newer")
    if (int(m.group(1)), int(m.group(2))) < MIN_TENSORRT:
        raise SpcError(f"TensorRT {version} is installed but spc needs TensorRT 10.3 or newer: on a Jetson that is "
                       "JetPack 6.1+ (L4T r36.4; JetPack 6.0 ships TensorRT 8.6), on a desktop tensorrt-cu12 10.3+")


def import_cudart():
    """cuda-python's runtime module (``cuda.bindings.runtime`` from 12.6.1 on, ``cuda.cudart`` before)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise SpcError(f"cuda-python is not installed: GPU targets need {INSTALL_HINT}") from None
    return cudart


def error_name(err) -> str:
    """``cudaErrorInsufficientDriver`` for an error enum (or its number where it has no name)."""
    return getattr(err, "name", None) or f"CUDA error {int(err)}"


def driver_error(err) -> SpcError | None:
    """A one-line user error for the driver being too old or mismatched; None for other errors."""
    code = int(err)
    if code == DRIVER_TOO_OLD:
        if tegra_release():  # a Jetson: its driver is JetPack's, so the runtime must come down to it, not the reverse
            return SpcError(f"this cuda-python's CUDA runtime is newer than JetPack's driver ({error_name(err)}): on a "
                            f"Jetson install the cuda-python of JetPack's CUDA, `pip install 'spc[jetson]'` "
                            f"({JETSON_CUDA_PYTHON}, JetPack 6.1/6.2's CUDA 12.6); a newer cuda-python links a newer "
                            "runtime statically")
        return SpcError(f"the NVIDIA driver is too old for this cuda-python ({error_name(err)}): update the driver, or "
                        "install the cuda-python of the driver's CUDA (`nvidia-smi` shows it), "
                        "e.g. `pip install 'cuda-python>=12.2,<12.7'` for a CUDA 12.6 driver")
    if code == DRIVER_MISMATCH:
        return SpcError(f"the NVIDIA driver and its kernel module do not match ({error_name(err)}): "
                        "reboot after the driver update, or reinstall the driver")
    return None


def check(result):
    """Unwrap a cuda-python call's (error, value...) tuple; raise on error (a user error for driver problems)."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise driver_error(err) or RuntimeError(f"CUDA call failed: {error_name(err)}")
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else tuple(rest)


def gpu_info() -> dict:
    """Name, compute capability, SM count, CUDA runtime and driver versions of device 0; a user error without a GPU."""
    cudart = import_cudart()
    err, count = cudart.cudaGetDeviceCount()
    problem = driver_error(err)
    if problem:
        raise problem
    if int(err) != 0 or count == 0:
        raise SpcError("no CUDA GPU is visible on this machine: GPU targets must be built on the device "
                       "(use --target cpu here, or run spc build on the board)")
    props = check(cudart.cudaGetDeviceProperties(0))
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    driver = check(cudart.cudaDriverGetVersion())
    runtime, source = system_cuda_runtime()
    if runtime is None:  # cuda-bindings 12.9+ links its runtime statically: its version is its own, not the system's
        runtime, source = _version(check(cudart.cudaRuntimeGetVersion())), "cuda-python"
    return {"gpu": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}",
            "sm_count": int(props.multiProcessorCount),
            "gpu_memory_mb": int(props.totalGlobalMem) >> 20, "board": board_model(), "tegra": tegra_release(),
            "cuda_runtime": runtime, "cuda_runtime_source": source, "cuda_driver": _version(driver)}


def board_model(path: Path | None = None) -> str:
    """The Jetson board's model: ``SPC_JETSON_MODEL``, else the first of ``BOARD_FILES`` that reads ("" on a desktop,
    or in a container where none is mounted)."""
    import os

    if path is None and os.environ.get(BOARD_ENV, "").strip():
        return os.environ[BOARD_ENV].strip()
    for f in ([Path(path)] if path else BOARD_FILES):
        try:
            text = f.read_bytes().decode(errors="replace").strip("\x00 \n")
        except OSError:
            continue
        if text:
            return text
    return ""


def tegra_release(path: Path = TEGRA_RELEASE) -> str:
    """The L4T release line ("R36 (release), REVISION: 4.0") where this is a Jetson's system, else ""."""
    try:
        return path.read_text(errors="replace").splitlines()[0].lstrip("# ").strip()
    except (OSError, IndexError):
        return ""


def system_cuda_runtime(names: tuple[str, ...] = ("libcudart.so", "libcudart.so.12")) -> tuple[str | None, str]:
    """(version, library) of the system's CUDA runtime, the one TensorRT links against; (None, "") without one."""
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        v = ctypes.c_int(0)
        if lib.cudaRuntimeGetVersion(ctypes.byref(v)) == 0 and v.value > 0:
            return _version(v.value), name
    return None, ""


def _version(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"


def tensorrt_build_check(target) -> BuildCheck:
    """Whether this machine can build ``target``'s TensorRT engine: TensorRT 10.3+ imports, a GPU answers and it is
    the target's GPU (name, compute capability, SM count, memory and, on a Jetson, the board)."""
    try:
        version = import_tensorrt().__version__
        gpu = gpu_info()
    except SpcError as exc:
        return BuildCheck(False, str(exc))
    mismatch = target.gpu_mismatch(gpu)
    if mismatch:
        return BuildCheck(False, f"{mismatch}; build on the device", gpu, version)
    return BuildCheck(True, "", gpu, version)


def require_tensorrt_build(target) -> BuildCheck:
    """``tensorrt_build_check`` or ``BuildDeferred`` ("cannot build <target> here: <why>")."""
    answer = tensorrt_build_check(target)
    if not answer:
        raise BuildDeferred(target.name, answer.why)
    return answer
