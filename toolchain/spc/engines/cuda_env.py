"""What a GPU target needs, checked up front: TensorRT, cuda-python and a CUDA device."""

from __future__ import annotations

from ..errors import SpcError


def import_tensorrt():
    """``tensorrt`` or a one-line user error saying what is missing."""
    try:
        import tensorrt as trt
    except ImportError:
        raise SpcError("TensorRT is not installed here: GPU targets need `pip install 'spc[tensorrt]'` "
                       "on a machine with an NVIDIA GPU (use --target cpu elsewhere)") from None
    return trt


def import_cudart():
    """cuda-python's runtime module (both the 12.x and the newer package layouts)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise SpcError("cuda-python is not installed: GPU targets need `pip install 'spc[tensorrt]'`") from None
    return cudart


def check(result):
    """Unwrap a cuda-python call's (error, value...) tuple; raise on error."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA error {err}")
    return rest[0] if len(rest) == 1 else tuple(rest)


def gpu_info() -> dict:
    """Name, compute capability and CUDA runtime version of device 0; a user error where there is no GPU."""
    cudart = import_cudart()
    err, count = cudart.cudaGetDeviceCount()
    if int(err) != 0 or count == 0:
        raise SpcError("no CUDA GPU is visible on this machine: GPU targets must be built on the device "
                       "(use --target cpu here, or run spc build on the board)")
    props = check(cudart.cudaGetDeviceProperties(0))
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    version = check(cudart.cudaRuntimeGetVersion())
    return {"gpu": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}",
            "cuda_runtime": f"{version // 1000}.{(version % 1000) // 10}"}
