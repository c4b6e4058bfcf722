"""Calls rivulet's /v1/chat/completions with the official `openai` SDK and
prints what the SDK made of the answer, as JSON.

usage: openai_chat.py BASE_URL MODEL stream|create [TOOLS_JSON]
"""

import json
import sys

from openai import OpenAI


def main() -> None:
    base_url, model, mode = sys.argv[1:4]
    tools = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
    client = OpenAI(base_url=base_url, api_key="x", max_retries=0)
    kwargs = {"model": model, "messages": [{"role": "user", "content": "go"}]}
    if tools:
        kwargs["tools"] = tools
    if mode == "stream":
        # The SDK's own accumulator (ChatCompletionStreamState underneath).
        with client.chat.completions.stream(
            **kwargs, stream_options={"include_usage": True}
        ) as stream:
            for _ in stream:
                pass
            completion = stream.get_final_completion()
    else:
        completion = client.chat.completions.create(**kwargs)
    message = completion.choices[0].message
    extra = message.model_extra or {}
    usage = completion.usage
    print(
        json.dumps(
            {
                "id": completion.id,
                "content": message.content,
                "reasoning_content": extra.get("reasoning_content"),
                "tool_calls": [
                    {
                        "id": c.id,
                        "name": c.function.name,
                        "arguments": c.function.arguments,
                    }
                    for c in (message.tool_calls or [])
                ],
                "finish_reason": completion.choices[0].finish_reason,
                "usage": None
                if usage is None
                else {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.total_tokens,
                    "cached_tokens": usage.prompt_tokens_details.cached_tokens
                    if usage.prompt_tokens_details
                    else None,
                    "reasoning_tokens": usage.completion_tokens_details.reasoning_tokens
                    if usage.completion_tokens_details
                    else None,
                },
            }
        )
    )


if __name__ == "__main__":
    main()
