"""Optional MMBench answer judge through an OpenAI-compatible chat-completions endpoint (off by default).

lmms-eval 0.7.3 (`tasks/mmbench/mmbench_evals.py`) asks a GPT judge to map an answer the heuristics
cannot resolve onto an option: up to 3 judge calls, each with up to 5 HTTP attempts 3 s apart, the
reply parsed with the same heuristics. The prompt below is lmms-eval's, character for character.
Unlike lmms-eval, a judge that still fails leaves the answer unresolved (counted wrong), never a random
letter. The judge runs only when the task option `judge_url` is set (e.g.
`--gen-kwargs judge_url=https://api.openai.com/v1/chat/completions`); the key is read from the
environment variable named by `judge_api_key_env` so that it never lands in run.json.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from tasks.scoring.choice_extract import extract_choice_letter, is_missing_option

logger = logging.getLogger(__name__)

DEFAULT_JUDGE_MODEL = "gpt-4o-2024-11-20"  # lmms-eval's default MODEL_VERSION
JUDGE_CALLS = 3
HTTP_ATTEMPTS = 5
RETRY_SECONDS = 3.0
TIMEOUT_SECONDS = 30.0

_TEMPLATE = (
    "You are an AI assistant who will help me to match an answer "
    "with several options of a single-choice question. "
    "You are provided with a question, several options, and an answer, "
    "and you need to find which option is most similar to the answer. "
    "If the meaning of all options are significantly different "
    "from the answer, output E. "
    "Your should output a single uppercase character in A, B, C, D "
    "(if they are valid options), and E. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear "
    "B. rabbit C. cat D. dog\nAnswer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear "
    "B. rabbit C. cat D. dog\nAnswer: Spider\nYour output: E\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)


@dataclass(frozen=True)
class JudgeConfig:
    """Where the judge lives; `url` empty means no judge."""

    url: str
    model: str = DEFAULT_JUDGE_MODEL
    api_key_env: str = "OPENAI_API_KEY"


def judge_options_text(doc: Mapping[str, object]) -> str:
    """lmms-eval's `build_option_str`: A-D up to the first missing option, one per line."""
    text = "There are several options: \n"
    for letter in "ABCD":
        value = doc.get(letter)
        if letter not in doc or is_missing_option(value):
            break
        text += f"{letter}. {value}\n"
    return text


def judge_prompt(doc: Mapping[str, object], prediction: str) -> str:
    """The judge's user message for one answer."""
    return _TEMPLATE.format(doc["question"], judge_options_text(doc), prediction)


def ask_judge(prompt: str, config: JudgeConfig) -> str | None:
    """One judge call (with HTTP retries); the reply text, or None when every attempt failed."""
    payload = json.dumps({
        "model": config.model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": 256,
        "n": 1,
    }).encode()
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(config.api_key_env, "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    for attempt in range(HTTP_ATTEMPTS):
        try:
            request = urllib.request.Request(config.url, data=payload, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                reply = json.loads(response.read())["choices"][0]["message"]["content"].strip()
            if reply:
                return reply
        except Exception as err:  # noqa: BLE001 - network/HTTP/JSON errors all mean "try again"
            logger.info("MMBench judge attempt %d failed: %s", attempt + 1, err)
            if attempt + 1 < HTTP_ATTEMPTS:
                time.sleep(RETRY_SECONDS)
    return None


def judge_letter(doc: Mapping[str, object], prediction: str, choices: Mapping[str, object], config: JudgeConfig) -> str | None:
    """The option letter the judge maps `prediction` to (parsed by the heuristics), or None."""
    prompt = judge_prompt(doc, prediction)
    for _ in range(JUDGE_CALLS):
        reply = ask_judge(prompt, config)
        if reply is not None:
            letter = extract_choice_letter(reply, choices)
            if letter is not None:
                return letter
            logger.info("MMBench judge reply names no single option: %r", reply)
    return None
