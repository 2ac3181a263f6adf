"""Unit tests of mox_torch without torchrun: safetensors files, the GPT-2 folder round trip, the token
file reader, the launcher's fix, the schedule, and reference logits of a Hugging Face folder. Run: PYTHONPATH=python python3 -m unittest discover -s python/tests
(test/scale-out.test.ts runs them too, and the whole trip through torchrun and mox)."""

import json
import os
import struct
import tempfile
import unittest

import numpy as np
import torch

from mox_torch import GPT2Config, GPT2LMHeadModel, load_hf_gpt2, read_safetensors, read_token_file, save_hf_gpt2, write_safetensors
from mox_torch.safetensors_io import SafetensorsError, _serialize
from mox_torch.tokens import TokenFileError
from mox_torch.train import lr_at, parse_args

CONFIG = {"model_type": "gpt2", "vocab_size": 11, "n_positions": 8, "n_embd": 12, "n_layer": 2, "n_head": 3, "n_inner": None}


class SafetensorsTest(unittest.TestCase):
    def test_round_trip_keeps_dtypes_shapes_values_and_metadata(self):
        ts = {
            "a": torch.randn(3, 4),
            "b": torch.randn(5).half(),
            "c": torch.randn(2, 2).bfloat16(),
            "d": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        }
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "x.safetensors")
            write_safetensors(f, ts, {"format": "pt", "step": "7"})
            with open(f, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
            self.assertEqual((8 + n) % 8, 0)  # data 8-byte aligned, as safetensors writes it
            back, meta = read_safetensors(f)
            self.assertEqual(meta, {"format": "pt", "step": "7"})
            for k, t in ts.items():
                self.assertEqual(back[k].dtype, t.dtype)
                self.assertTrue(torch.equal(back[k], t), k)
            self.assertEqual(os.listdir(d), ["x.safetensors"])  # no temporary file left

    def test_a_header_longer_than_the_file_is_an_error_naming_it(self):
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "bad.safetensors")
            with open(f, "wb") as fh:
                fh.write(struct.pack("<Q", 10**6) + b"{}")
            with self.assertRaisesRegex(SafetensorsError, "header length 1000000 exceeds the file size 10"):
                read_safetensors(f)
            blob = bytearray(_serialize({"w": torch.zeros(4)}, None))
            with open(f, "wb") as fh:
                fh.write(blob[:-4])  # the last float cut off
            with self.assertRaisesRegex(SafetensorsError, "data_offsets"):
                read_safetensors(f)


class HuggingFaceFolderTest(unittest.TestCase):
    def round_trip(self, cfg_json):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(cfg_json)).eval()
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "vocab.json"), "w") as fh:
                fh.write("{}")
            model.source_dir = d
            out = os.path.join(d, "out")
            save_hf_gpt2(model, out)
            names = set(read_safetensors(os.path.join(out, "model.safetensors"))[0])
            self.assertIn("transformer.h.1.attn.c_attn.weight", names)
            self.assertEqual("lm_head.weight" in names, cfg_json.get("tie_word_embeddings") is False)
            self.assertTrue(os.path.isfile(os.path.join(out, "vocab.json")))  # the tokenizer files travel along
            back = load_hf_gpt2(out).eval()
            x = torch.tensor([[1, 2, 3, 4, 5]])
            with torch.no_grad():
                self.assertTrue(torch.equal(model(x), back(x)))
            return back

    def test_tied_gelu_new(self):
        m = self.round_trip(CONFIG)
        self.assertIs(m.lm_head.weight, m.transformer.wte.weight)
        self.assertEqual(tuple(m.transformer.h[0].attn.c_attn.weight.shape), (12, 36))  # Conv1D: [in, out]

    def test_untied_exact_gelu_eps_and_pruned_heads(self):
        cfg = {**CONFIG, "tie_word_embeddings": False, "activation_function": "gelu", "layer_norm_epsilon": 1e-3, "pruned_heads": {"1": [0]}}
        m = self.round_trip(cfg)
        self.assertEqual(tuple(m.transformer.h[1].attn.c_attn.weight.shape), (12, 24))
        self.assertEqual(m.transformer.h[0].ln_1.eps, 1e-3)

    def test_gelu_new_is_the_tanh_formula(self):
        x = torch.linspace(-4, 4, 101, dtype=torch.float64)
        ref = 0.5 * x * (1 + torch.tanh((2 / np.pi) ** 0.5 * (x + 0.044715 * x**3)))
        self.assertLess((torch.nn.functional.gelu(x, approximate="tanh") - ref).abs().max().item(), 1e-12)

    def test_a_mox_checkpoint_is_refused_with_the_way_on(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "config.json"), "w") as fh:
                json.dump({"model": "gpt", "gpt": {"nEmbd": 16}}, fh)
            open(os.path.join(d, "model.safetensors"), "wb").close()
            with self.assertRaisesRegex(ValueError, "is a mox checkpoint, not a Hugging Face folder: write one with mox export-hf"):
                load_hf_gpt2(d)

    def test_config_errors_name_the_field(self):
        with self.assertRaisesRegex(ValueError, "activation_function 'relu' is not supported"):
            GPT2Config({**CONFIG, "activation_function": "relu"})
        with self.assertRaisesRegex(ValueError, r"n_embd \(12\) must be a multiple of n_head \(5\)"):
            GPT2Config({**CONFIG, "n_head": 5})


class ReferenceTest(unittest.TestCase):
    """Against numbers from outside: hf-gpt2-tiny's reference.json follows transformers' GPT2LMHeadModel."""

    def test_logits_and_greedy_tokens_of_hf_gpt2_tiny(self):
        here = os.path.dirname(os.path.abspath(__file__))
        folder = os.environ.get("MOX_HF_REF_DIR") or os.path.join(here, "..", "..", "..", "shared", "data", "hf-gpt2-tiny")
        if not os.path.isfile(os.path.join(folder, "reference.json")):
            self.skipTest(f"no {folder}/reference.json (MOX_HF_REF_DIR)")
        with open(os.path.join(folder, "reference.json")) as fh:
            ref = json.load(fh)
        model = load_hf_gpt2(folder).eval()
        with torch.no_grad():
            logits = model(torch.tensor(ref["input_ids"]))
            diff = (logits.double() - torch.tensor(ref["logits"], dtype=torch.float64)).abs().max().item()
            self.assertLess(diff, 1e-4)
            ids = list(ref["greedy_prompt"])
            while len(ids) < len(ref["greedy_output"]):
                ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
        self.assertEqual(ids, ref["greedy_output"])


class TokenFileTest(unittest.TestCase):
    def write(self, d, ids, dtype="uint16", **over):
        f = os.path.join(d, "t.bin")
        arr = np.asarray(ids, dtype="<u2" if dtype == "uint16" else "<u4")
        arr.tofile(f)
        import hashlib

        info = {"format": "mox-tokens", "version": 1, "dtype": dtype, "byte_order": "little", "vocab_size": 100, "count": len(ids)}
        info["sha256"] = hashlib.sha256(arr.tobytes()).hexdigest()
        info.update(over)
        with open(f + ".json", "w") as fh:
            json.dump(info, fh)
        return f

    def test_memmaps_the_ids_and_checks_the_file(self):
        with tempfile.TemporaryDirectory() as d:
            ids, info = read_token_file(self.write(d, [5, 6, 7]))
            self.assertEqual(ids.tolist(), [5, 6, 7])
            self.assertEqual(read_token_file(self.write(d, [70000, 1], "uint32"))[0].tolist(), [70000, 1])
            with self.assertRaisesRegex(TokenFileError, "holds 6 bytes, .* says 4 uint16 tokens"):
                read_token_file(self.write(d, [5, 6, 7], count=4))
            with self.assertRaisesRegex(TokenFileError, "sha256"):
                read_token_file(self.write(d, [5, 6, 7], sha256="0" * 64))


class TrainSettingsTest(unittest.TestCase):
    def test_schedule_is_mox_lr_at(self):
        a = parse_args(["--model", "m", "--data", "d", "--out", "o", "--lr", "1e-3", "--min-lr", "1e-4", "--warmup-iters", "10"])
        self.assertAlmostEqual(lr_at(0, a, 100), 1e-3 / 11)
        self.assertAlmostEqual(lr_at(10, a, 100), 1e-3)
        self.assertAlmostEqual(lr_at(55, a, 100), 1e-4 + 0.5 * 9e-4)
        self.assertAlmostEqual(lr_at(101, a, 100), 1e-4)

    def test_launcher_parses_torchrun_redirects(self):
        from torch.distributed.elastic.multiprocessing.api import Std

        from mox_torch.launch import _from_str

        self.assertIs(_from_str("0"), Std.NONE)
        self.assertIs(_from_str("3"), Std.ALL)
        self.assertEqual(_from_str("0:3,1:0"), {0: Std.ALL, 1: Std.NONE})


if __name__ == "__main__":
    unittest.main()
