"""What a GPU target needs, checked up front: TensorRT, cuda-python 12.x and a CUDA device.

cuda-python is pinned to 12.x (``cuda-python>=12.2,<13``): its runtime works with every CUDA 12
driver (desktop drivers 525+, JetPack 6's CUDA 12.2/12.6), while cuda-python 13 needs driver 580+.
"""

from __future__ import annotations

from ..errors import SpcError

#: cudaErrorInsufficientDriver, cudaErrorSystemDriverMismatch: the driver cannot run this CUDA runtime
DRIVER_TOO_OLD = 35
DRIVER_MISMATCH = 803
NO_DEVICE = 100

INSTALL_HINT = "`pip install 'spc[tensorrt]'` on a desktop GPU, `pip install 'spc[jetson]'` on a Jetson (see the README)"


def import_tensorrt():
    """``tensorrt`` or a one-line user error saying what is missing."""
    try:
        import tensorrt as trt
    except ImportError:
        raise SpcError(f"TensorRT is not installed here: GPU targets need {INSTALL_HINT} "
                       "on a machine with an NVIDIA GPU (use --target cpu elsewhere)") from None
    return trt


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
        return SpcError(f"the NVIDIA driver is too old for this cuda-python ({error_name(err)}): spc needs "
                        "cuda-python 12.x with a CUDA 12 driver (JetPack 6, or 525+ on a desktop); "
                        "run `pip install 'cuda-python>=12.2,<13'` or update the driver")
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
    runtime = check(cudart.cudaRuntimeGetVersion())
    driver = check(cudart.cudaDriverGetVersion())
    return {"gpu": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}",
            "sm_count": int(props.multiProcessorCount), "cuda_runtime": _version(runtime), "cuda_driver": _version(driver)}


def _version(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"
