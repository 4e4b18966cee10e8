"""One call through the openai Python SDK, as a recipient's program makes it (test/interop/gate-clients.test.ts).

usage: openai-client.py chat|completions <model> <max_tokens> stream|plain

The SDK takes its base URL and API key from OPENAI_BASE_URL and OPENAI_API_KEY (the key never on
argv). Prints one JSON line: the text, the usage the SDK saw (null when none), the number of
chunks (streamed), and on an API error its status and body instead.
"""

import json
import sys

import openai


def main() -> None:
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    endpoint, model, max_tokens, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    client = openai.OpenAI(max_retries=0, timeout=60)
    prompt = "Say something about export control."
    args = {"model": model, "max_tokens": max_tokens, "seed": 23, "temperature": 0}
    if mode == "stream":
        args |= {"stream": True, "stream_options": {"include_usage": True}}
    try:
        if endpoint == "chat":
            answer = client.chat.completions.create(messages=[{"role": "user", "content": prompt}], **args)
        else:
            answer = client.completions.create(prompt=prompt, **args)
        if mode != "stream":
            choice = answer.choices[0]
            text = choice.message.content if endpoint == "chat" else choice.text
            usage = answer.usage.model_dump() if answer.usage else None
            print(json.dumps({"text": text, "usage": usage, "id": answer.id}))
            return
        text, usage, chunks = [], None, 0
        for chunk in answer:
            chunks += 1
            for choice in chunk.choices:
                part = choice.delta.content if endpoint == "chat" else choice.text
                text.append(part or "")
            if chunk.usage is not None:
                usage = chunk.usage.model_dump()
        print(json.dumps({"text": "".join(text), "usage": usage, "chunks": chunks}))
    except openai.APIStatusError as e:
        print(json.dumps({"error": {"status": e.status_code, "body": e.body, "headers": dict(e.response.headers)}}))


if __name__ == "__main__":
    main()
