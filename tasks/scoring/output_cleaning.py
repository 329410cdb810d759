"""What lmms-eval 0.7.3 does to a generated answer before a task scores it.

`evaluator._process_document_results` strips closed reasoning blocks with the CLI default
`--reasoning_tags [["<think>","</think>"],["<analysis>","</analysis>"]]` (`api/reasoning.py`), and
`generate_until` outputs are `.strip()`ped (None becomes ""). Every understanding task here scores
`clean_output(output)`, so raw adapter outputs score as lmms-eval would score them.
"""

from __future__ import annotations

REASONING_TAGS = (("<think>", "</think>"), ("<analysis>", "</analysis>"))


def strip_reasoning(text: str, tag_pairs=REASONING_TAGS) -> str:
    """Remove closed reasoning blocks; with only a closing tag keep the text after the last one."""
    result = text
    for start_tag, end_tag in tag_pairs:
        while start_tag in result and end_tag in result:
            start = result.find(start_tag)
            end = result.find(end_tag, start)
            if start == -1 or end == -1:
                break
            result = result[:start] + result[end + len(end_tag):]
        # Templates that prefill the opening tag leave only the closing one in the completion.
        if end_tag in result and start_tag not in result:
            result = result.rsplit(end_tag, 1)[-1]
    return result.strip()


def clean_output(output: str | None) -> str:
    """The answer text lmms-eval hands to a task's scorer: reasoning blocks removed, stripped."""
    if output is None:
        return ""
    return strip_reasoning(output).strip()
