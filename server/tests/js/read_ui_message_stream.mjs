// Reads a UI message stream response body (SSE bytes) on stdin and prints
// what the `ai` package makes of it, as JSON: {"message": the final
// UIMessage, "errors": [the texts of the errors it reported]}.
//
// The bytes go through the AI SDK's own client path, unchanged: its
// DefaultChatTransport (the transport useChat uses) fetches them, from a
// fetch that answers with stdin as the HTTP response, then
// readUIMessageStream assembles the message. Nothing here parses the
// protocol itself.
import { DefaultChatTransport, readUIMessageStream } from "ai";
import { readStdin } from "./support.mjs";

const body = await readStdin();
const fetchStdin = async () =>
  new Response(body, {
    status: 200,
    headers: {
      "content-type": "text/event-stream",
      "x-vercel-ai-ui-message-stream": "v1",
    },
  });

const transport = new DefaultChatTransport({
  api: "http://127.0.0.1/unused",
  fetch: fetchStdin,
});
const chunks = await transport.sendMessages({
  trigger: "submit-message",
  chatId: "chat",
  messageId: undefined,
  messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "q" }] }],
  abortSignal: undefined,
});

const errors = [];
let message = null;
for await (const snapshot of readUIMessageStream({
  stream: chunks,
  onError: (error) => errors.push(String(error && error.message ? error.message : error)),
})) {
  message = snapshot;
}
process.stdout.write(JSON.stringify({ message, errors }) + "\n");
