"""Prompts to conditioning the way AUTOMATIC1111 builds it, so that a prompt copied from A1111 paints the same.

What A1111 does (modules/sd_hijack_clip.py, sd_emphasis.py, prompt_parser.py), and so what this does:
- the prompt is split into weighted fragments (`(word:1.3)`, `[word]`, `BREAK`: prompt_syntax.py);
- its tokens are packed into chunks of 75, each framed by start and end tokens into CLIP's 77; a chunk
  that would end within 20 tokens after a comma ends at that comma instead (A1111's comma backtracking)
  and `BREAK` starts a new chunk. Every chunk is encoded on its own and the results are concatenated, so a
  prompt of any length counts to its last word;
- each token's output vector is multiplied by its weight, then the whole is rescaled to its former mean
  (A1111's "Original" emphasis, its default);
- CLIP skip (A1111's `CLIP_stop_at_last_layers`) takes an earlier layer of SD 1.x's text encoder and
  normalises it; A1111 ignores it for SD 2.x and SDXL, and so does this (the caller warns);
- SDXL concatenates both encoders' penultimate layers and takes the pooled vector from the first chunk;
  an empty SDXL negative prompt is all zeros;
- prompt editing `[from:to:when]` and alternation `[a|b]` give one conditioning per change, swapped in at
  the steps where A1111 swaps them (`switch`, called from the step callback).
The cond and uncond of one run must have the same length for diffusers' batched guidance: the shorter is
padded with the empty prompt's chunk (as A1111's "pad prompt/negative prompt" option does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import flow_families, prompt_syntax

CHUNK_LENGTH = 75  # tokens of text per chunk; with the start and end tokens, CLIP's 77
COMMA_BACKTRACK = 20  # A1111's comma_padding_backtrack default


@dataclass
class _Chunk:
    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)


@dataclass
class TextEncoder:
    """One tokenizer and text encoder, and which of its layers the family reads."""

    tokenizer: object
    model: torch.nn.Module
    skip: int = 1  # 1: the last layer; n: the n-th from the end, then the final layer norm (SD 1.x's CLIP skip)
    raw_penultimate: bool = False  # SDXL: the penultimate layer as it is
    pooled: bool = False  # SDXL's second encoder also gives the pooled vector

    @property
    def comma(self) -> int | None:
        return self.tokenizer.get_vocab().get(",</w>")


@dataclass
class Encoded:
    """A text's conditioning: (1, tokens, channels), and SDXL's pooled (1, channels)."""

    embeds: torch.Tensor
    pooled: torch.Tensor | None = None


def tokenize_line(encoder: TextEncoder, text: str, convert=None) -> list[_Chunk]:
    """A1111's tokenize_line: weighted fragments packed into 75-token chunks (start and end tokens added)."""
    fragments = prompt_syntax.parse_attention(text)
    texts = [convert(t) if convert else t for t, _ in fragments]
    # verbose=False: a fragment longer than 77 tokens is expected here, it is cut into chunks below
    tokenized = encoder.tokenizer(texts, truncation=False, add_special_tokens=False, verbose=False)["input_ids"]
    bos, eos = encoder.tokenizer.bos_token_id, encoder.tokenizer.eos_token_id
    comma = encoder.comma
    chunks: list[_Chunk] = []
    chunk = _Chunk()
    last_comma = -1

    def close(current: _Chunk) -> _Chunk:
        nonlocal last_comma
        fill = CHUNK_LENGTH - len(current.tokens)
        current.tokens = [bos, *current.tokens, *[eos] * fill, eos]
        current.multipliers = [1.0, *current.multipliers, *[1.0] * fill, 1.0]
        chunks.append(current)
        last_comma = -1
        return _Chunk()

    for tokens, (fragment, weight) in zip(tokenized, fragments):
        if fragment == "BREAK" and weight == -1:
            chunk = close(chunk)
            continue
        for token in tokens:
            if token == comma:
                last_comma = len(chunk.tokens)
            elif (len(chunk.tokens) == CHUNK_LENGTH and last_comma != -1
                  and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK):
                # the words after the last comma move to the next chunk, so a phrase is not cut in two
                cut = last_comma + 1
                moved = _Chunk(chunk.tokens[cut:], chunk.multipliers[cut:])
                chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
                close(chunk)
                chunk = moved
            if len(chunk.tokens) == CHUNK_LENGTH:
                chunk = close(chunk)
            chunk.tokens.append(token)
            chunk.multipliers.append(weight)
    if chunk.tokens or not chunks:
        close(chunk)
    return chunks


def _empty_chunk(encoder: TextEncoder) -> _Chunk:
    tok = encoder.tokenizer
    return _Chunk([tok.bos_token_id] + [tok.eos_token_id] * (CHUNK_LENGTH + 1), [1.0] * (CHUNK_LENGTH + 2))


def encode_texts(encoder: TextEncoder, texts: list[str], device, convert=None) -> list[Encoded]:
    """Encode texts as one batch (A1111 batches a prompt's scheduled texts, and emphasis rescales the batch)."""
    lines = [tokenize_line(encoder, text, convert) for text in texts]
    count = max(len(chunks) for chunks in lines)
    pad = encoder.tokenizer.pad_token_id
    eos = encoder.tokenizer.eos_token_id
    outputs, pooled = [], None
    for i in range(count):
        batch = [chunks[i] if i < len(chunks) else _empty_chunk(encoder) for chunks in lines]
        tokens = torch.tensor([c.tokens for c in batch], device=device)
        if pad is not None and pad != eos:  # SD 2.x and SDXL's second encoder pad with their own token after the end
            for row, chunk in enumerate(batch):
                end = chunk.tokens.index(eos)
                tokens[row, end + 1:] = pad
        z, chunk_pooled = _run_encoder(encoder, tokens)
        multipliers = torch.tensor([c.multipliers for c in batch], device=z.device, dtype=z.dtype)
        if bool((multipliers != 1).any()):  # with no weight the rescale is the identity: skip its 0/0 risk
            original_mean = z.mean()
            z = z * multipliers.unsqueeze(-1)
            new_mean = z.mean()
            # A1111 rescales to the former mean; a mean of exactly zero (features whose final layer norm has
            # no bias, as in random models) has no scale to restore, and dividing by it would give NaN
            if bool(new_mean != 0) and bool(torch.isfinite(original_mean / new_mean)):
                z = z * (original_mean / new_mean)
        outputs.append(z)
        if i == 0:
            pooled = chunk_pooled
    embeds = torch.cat(outputs, dim=1)
    return [Encoded(embeds[i:i + 1], pooled[i:i + 1] if pooled is not None else None) for i in range(len(texts))]


def _run_encoder(encoder: TextEncoder, tokens: torch.Tensor):
    out = encoder.model(tokens, output_hidden_states=True)
    if encoder.raw_penultimate:
        z = out.hidden_states[-2]
    elif encoder.skip > 1:
        z = out.hidden_states[-encoder.skip]
        # transformers < 5.6 nests the layers in `text_model`, later versions do not
        z = getattr(encoder.model, "text_model", encoder.model).final_layer_norm(z)
    else:
        z = out.last_hidden_state
    pooled = out.text_embeds if encoder.pooled else None
    return z, pooled


# --- a run's conditioning ------------------------------------------------------------------------


@dataclass
class Conditioning:
    """The conditioning of one run, per stretch of steps: what the pipeline gets, and what changes when."""

    ends: list[int]  # A1111's end_at_step of each stretch
    positive: list[Encoded]
    negative: list[Encoded]
    batch_size: int

    def index_at(self, step: int) -> int:
        return next((i for i, end in enumerate(self.ends) if step <= end), 0)  # past the end: the first, as A1111

    def arguments(self) -> dict:
        """The pipeline's prompt_embeds arguments for the first step (diffusers repeats them per picture)."""
        pos, neg = self.positive[0], self.negative[0]
        args = {"prompt_embeds": pos.embeds, "negative_prompt_embeds": neg.embeds}
        if pos.pooled is not None:
            args.update(pooled_prompt_embeds=pos.pooled, negative_pooled_prompt_embeds=neg.pooled)
        return args

    @property
    def changes(self) -> bool:
        return len(self.ends) > 1

    def switch(self, pipe, finished_step: int) -> dict:
        """Tensors to hand back from the step callback when the next step's conditioning differs, else {}."""
        now, after = self.index_at(finished_step), self.index_at(finished_step + 1)
        if now == after:
            return {}
        pos, neg = self.positive[after], self.negative[after]
        n = self.batch_size
        guided = pipe.do_classifier_free_guidance
        embeds = pos.embeds.repeat(n, 1, 1)
        tensors = {"prompt_embeds": torch.cat([neg.embeds.repeat(n, 1, 1), embeds]) if guided else embeds}
        if pos.pooled is not None and "add_text_embeds" in pipe._callback_tensor_inputs:
            pooled = pos.pooled.repeat(n, 1)
            tensors["add_text_embeds"] = torch.cat([neg.pooled.repeat(n, 1), pooled]) if guided else pooled
        return tensors


def text_encoders(pipe, family: str, clip_skip: int) -> list[TextEncoder]:
    if family == "sdxl_refiner":  # the refiner reads the second encoder alone
        return [TextEncoder(pipe.tokenizer_2, pipe.text_encoder_2, raw_penultimate=True, pooled=True)]
    if family == "sdxl":
        return [TextEncoder(pipe.tokenizer, pipe.text_encoder, raw_penultimate=True),
                TextEncoder(pipe.tokenizer_2, pipe.text_encoder_2, raw_penultimate=True, pooled=True)]
    return [TextEncoder(pipe.tokenizer, pipe.text_encoder, skip=clip_skip if family == "sd1" else 1)]


@torch.no_grad()
def encode(pipe, family: str, prompt: str, negative: str, steps: int, batch_size: int, clip_skip: int = 1) -> Conditioning:
    """The run's conditioning: the prompt and negative prompt (extra-network tags already taken out)."""
    if family in flow_families.FLOW_FAMILIES:  # T5 reads plain text: the pipeline encodes it (flow_families.py)
        return flow_families.PlainConditioning(pipe, family, prompt, negative, steps)
    pos_schedule = prompt_syntax.schedules(prompt, steps)
    neg_schedule = prompt_syntax.schedules(negative, steps)
    ends = sorted({end for end, _ in pos_schedule} | {end for end, _ in neg_schedule})
    encoders = text_encoders(pipe, family, clip_skip)
    device = pipe._execution_device
    positive = _encode_schedule(pipe, encoders, pos_schedule, device)
    zero_negative = family == "sdxl" and negative == ""  # A1111: an empty SDXL negative is zeros
    negative_encoded = _encode_schedule(pipe, encoders, neg_schedule, device)
    if zero_negative:
        negative_encoded = {k: Encoded(torch.zeros_like(v.embeds), torch.zeros_like(v.pooled)) for k, v in
                            negative_encoded.items()}
    pos_at = [positive[prompt_syntax.text_at_step(pos_schedule, end)] for end in ends]
    neg_at = [negative_encoded[prompt_syntax.text_at_step(neg_schedule, end)] for end in ends]
    empty = None
    length = max(e.embeds.shape[1] for e in pos_at + neg_at)
    if any(e.embeds.shape[1] != length for e in pos_at + neg_at):
        empty = _encode_schedule(pipe, encoders, [(steps, "")], device)[""].embeds
        pos_at = [_pad(e, empty, length) for e in pos_at]
        neg_at = [_pad(e, torch.zeros_like(empty) if zero_negative else empty, length) for e in neg_at]
    return Conditioning(ends, pos_at, neg_at, batch_size)


def _encode_schedule(pipe, encoders: list[TextEncoder], schedule, device) -> dict[str, Encoded]:
    texts = list(dict.fromkeys(text for _, text in schedule))
    per_encoder = []
    for encoder in encoders:
        convert = None
        if hasattr(pipe, "maybe_convert_prompt"):  # multi-vector embeddings: "name" becomes "name name_1 ..."
            def convert(text, tokenizer=encoder.tokenizer):
                # lowered first, as CLIP's tokenizer does anyway, so the name is found whatever its case
                return pipe.maybe_convert_prompt(text.lower(), tokenizer)
        per_encoder.append(encode_texts(encoder, texts, device, convert))
    result = {}
    for i, text in enumerate(texts):
        parts = [encoded[i] for encoded in per_encoder]
        length = max(p.embeds.shape[1] for p in parts)
        embeds = torch.cat([_repeat_last(p.embeds, length) for p in parts], dim=-1)
        pooled = next((p.pooled for p in parts if p.pooled is not None), None)
        result[text] = Encoded(embeds, pooled)
    return result


def _repeat_last(embeds: torch.Tensor, length: int) -> torch.Tensor:
    missing = length - embeds.shape[1]
    return embeds if missing == 0 else torch.cat([embeds, embeds[:, -1:].repeat(1, missing, 1)], dim=1)


def _pad(encoded: Encoded, empty: torch.Tensor, length: int) -> Encoded:
    missing = (length - encoded.embeds.shape[1]) // empty.shape[1]
    if missing == 0:
        return encoded
    return Encoded(torch.cat([encoded.embeds, empty.repeat(1, missing, 1)], dim=1), encoded.pooled)

