"""A tiny Whisper model made at test time, in faster-whisper's format, with no download.

The weights are random (content is meaningless) but the model is a real CTranslate2 Whisper
model: an 80-bin log-mel encoder over 30-s windows (1500 positions), a decoder over a small
byte-level vocabulary with Whisper's special and timestamp tokens, and alignment heads for word
timestamps. The output projection leans towards a few whole words and the end of text, so the
random model says short readable phrases instead of stray bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = ("hello", "my", "order", "has", "not", "arrived", "refund", "please", "thank", "you",
         "account", "number")
SPECIALS = ("<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>",
            "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
            "<|notimestamps|>")
TIMESTAMPS = tuple(f"<|{i * 0.02:.2f}|>" for i in range(1501))  # 0 to 30 s
N_MELS = 80
ENCODER_POSITIONS = 1500
DECODER_POSITIONS = 448


def _vocabulary() -> list[str]:
    from tokenizers import pre_tokenizers

    # English-only layout (fewer than 51865 tokens): text tokens, then the special tokens,
    # then the timestamps, which start right after <|notimestamps|>.
    text = sorted(pre_tokenizers.ByteLevel.alphabet()) + ["Ġ" + word for word in WORDS]
    return [*dict.fromkeys(text), *SPECIALS, *TIMESTAMPS]


def build(folder: Path, *, width: int = 64, heads: int = 2, layers: int = 1,
          seed: int = 1) -> Path:
    """Writes the model into ``folder`` (model.bin, config.json, vocabulary.json,
    tokenizer.json, preprocessor_config.json) and returns it."""
    from ctranslate2.specs import whisper_spec
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    rng = np.random.default_rng(seed)
    tokens = _vocabulary()
    size = len(tokens)
    ffn = 2 * width

    def random(*shape: int, scale: float = 0.05) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, np.float32)

    def norm(spec: object) -> None:
        spec.gamma = np.ones(width, np.float32)  # type: ignore[attr-defined]
        spec.beta = zeros(width)  # type: ignore[attr-defined]

    def linear(spec: object, rows: int, columns: int) -> None:
        spec.weight = random(rows, columns)  # type: ignore[attr-defined]
        spec.bias = zeros(rows)  # type: ignore[attr-defined]

    def attention(spec: object, self_attention: bool) -> None:
        norm(spec.layer_norm)  # type: ignore[attr-defined]
        parts = spec.linear  # type: ignore[attr-defined]
        if self_attention:  # fused query/key/value, output
            linear(parts[0], 3 * width, width)
            linear(parts[1], width, width)
        else:  # query, fused key/value over the encoder's output, output
            linear(parts[0], width, width)
            linear(parts[1], 2 * width, width)
            linear(parts[2], width, width)

    def feed_forward(spec: object) -> None:
        norm(spec.layer_norm)  # type: ignore[attr-defined]
        linear(spec.linear_0, ffn, width)  # type: ignore[attr-defined]
        linear(spec.linear_1, width, ffn)  # type: ignore[attr-defined]

    spec = whisper_spec.WhisperSpec(layers, heads, layers, heads)
    encoder = spec.encoder
    encoder.conv1.weight = random(width, N_MELS, 3)
    encoder.conv1.bias = zeros(width)
    encoder.conv2.weight = random(width, width, 3)
    encoder.conv2.bias = zeros(width)
    encoder.position_encodings.encodings = random(ENCODER_POSITIONS, width)
    norm(encoder.layer_norm)
    for layer in encoder.layer:
        attention(layer.self_attention, True)
        feed_forward(layer.ffn)
    decoder = spec.decoder
    decoder.embeddings.weight = random(size, width)
    decoder.position_encodings.encodings = random(DECODER_POSITIONS, width)
    norm(decoder.layer_norm)
    for layer in decoder.layer:
        attention(layer.self_attention, True)
        attention(layer.attention, False)
        feed_forward(layer.ffn)
    decoder.projection.weight = random(size, width, scale=0.5)
    bias = zeros(size)
    for word in WORDS:
        bias[tokens.index("Ġ" + word)] = 8.0
    bias[tokens.index("<|endoftext|>")] = 7.0
    decoder.projection.bias = bias
    spec.register_vocabulary(tokens)
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [tokens.index("<|endoftext|>")]
    spec.config.lang_ids = []
    spec.config.alignment_heads = [(layers - 1, head) for head in range(heads)]
    spec.validate()
    spec.optimize(quantization=None)
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(str(folder))

    tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([*SPECIALS, *TIMESTAMPS])
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "feature_size": N_MELS, "sampling_rate": 16_000, "hop_length": 160,
        "chunk_length": 30, "n_fft": 400}))
    return folder
