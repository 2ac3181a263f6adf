"""mox_torch: continue a mox GPT on PyTorch (DDP under torchrun, FSDP on GPUs) and come back.

mox writes a Hugging Face GPT-2 folder (`mox export-hf`) and a token file (`mox tokenize --out-bin`);
load_hf_gpt2 reads the folder into a PyTorch GPT2LMHeadModel of the same layout, `python -m
mox_torch.train` (under torchrun) continues pretraining on the token file, and save_hf_gpt2 writes a
folder that mox's loadGPT reads again. See docs/scale-out.md.
"""

from .hf_gpt2 import ConfigError, GPT2Config, GPT2LMHeadModel, load_hf_gpt2, save_hf_gpt2
from .safetensors_io import HAVE_SAFETENSORS, SafetensorsError, read_safetensors, write_safetensors
from .tokens import TokenFileError, read_token_file

__all__ = [
    "ConfigError",
    "GPT2Config",
    "GPT2LMHeadModel",
    "load_hf_gpt2",
    "save_hf_gpt2",
    "HAVE_SAFETENSORS",
    "SafetensorsError",
    "read_safetensors",
    "write_safetensors",
    "TokenFileError",
    "read_token_file",
]
__version__ = "0.1.0"
