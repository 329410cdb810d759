"""The tiny checkpoint's random weights end answers: `</s>` follows a sentence-final token, as in a chat model."""

from __future__ import annotations

import torch

from vargpt import generate_text

SENTENCE_ENDS = (".", "?", "!")


def test_end_of_sequence_is_the_top_token_exactly_after_sentence_ends(tiny_model):
    model, processor = tiny_model
    tokenizer = processor.tokenizer
    # The prompt template (system prompt with two full stops) plus a question, answers and a final "?".
    batch = processor.encode_batch(["Is there a dog in the image? Yes. No! What color is the car?"], [[]])
    with torch.inference_mode():
        logits_BLV = model(**batch.model_inputs()).logits
    tokens = tokenizer.convert_ids_to_tokens(batch.input_ids[0].tolist())
    ends_sentence = [token.endswith(SENTENCE_ENDS) for token in tokens]
    top_is_eos = (logits_BLV[0].argmax(dim=-1) == tokenizer.eos_token_id).tolist()
    assert sum(ends_sentence) >= 5  # "assistant." "questions." "image?" "Yes." "No!" at least
    assert top_is_eos == ends_sentence


def test_greedy_answers_end_long_before_the_benchmark_cap(tiny_model, images):
    model, processor = tiny_model
    texts = ["What is in the image?", "Describe the picture in detail.", "Hi", "Answer with the option's letter."]
    request_images = [[images[0]], [], [images[1], images[2]], [images[2]]]
    # MMBench and SEED allow 1024 new tokens. An answer that reached 128 tokens would be longer with 1024, so equal
    # answers mean every one ended at </s> within 128 tokens; </s> comes right after a sentence-final token.
    capped = generate_text(model, processor, texts, request_images, max_new_tokens=128)
    uncapped = generate_text(model, processor, texts, request_images, max_new_tokens=1024)
    assert uncapped == capped
    assert all(answer.endswith(SENTENCE_ENDS) for answer in uncapped)
