// Posts a chat to a running `rivulet serve` the way `useChat` does, and
// prints what the `ai` package makes of the answer, as JSON:
// {"status": the HTTP status, "streamId": x-rivulet-stream-id,
//  "message": the final UIMessage, "errors": [error texts], "aborted": bool}.
//
// Input is one JSON object on stdin: {"api": URL, "token": bearer or null,
// "body": the transport's `body` option, "messages": the UIMessages to send,
// "abortAfterParts": abort the request (useChat's stop()) once this many
// message snapshots have arrived, or null}.
//
// Everything is the AI SDK's own client path: DefaultChatTransport (the
// transport useChat uses) posts over real HTTP with the global fetch, and
// readUIMessageStream assembles the message. The only wrapper is a fetch
// that notes the response's status and stream id header before handing
// the response back untouched.
import { readUIMessageStream } from "ai";
import { chatTransport, readInput } from "./support.mjs";

const input = await readInput();
const seen = { status: null, streamId: null };
const transport = chatTransport(input, (response) => {
  seen.status = response.status;
  seen.streamId = response.headers.get("x-rivulet-stream-id");
});

const abort = new AbortController();
const errors = [];
let message = null;
let snapshots = 0;
let aborted = false;
try {
  const chunks = await transport.sendMessages({
    trigger: "submit-message",
    chatId: "chat-1",
    messageId: undefined,
    messages: input.messages,
    abortSignal: abort.signal,
  });
  for await (const snapshot of readUIMessageStream({
    stream: chunks,
    onError: (error) => errors.push(String(error && error.message ? error.message : error)),
  })) {
    message = snapshot;
    snapshots += 1;
    if (input.abortAfterParts != null && snapshots >= input.abortAfterParts) {
      aborted = true;
      abort.abort();
      break;
    }
  }
} catch (error) {
  if (!aborted) {
    errors.push(String(error && error.message ? error.message : error));
  }
}
process.stdout.write(
  JSON.stringify({ status: seen.status, streamId: seen.streamId, message, errors, aborted }) + "\n",
);
