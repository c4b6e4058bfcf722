// Drives a chat the way `useChat` does, through the `ai` package's own chat
// class (AbstractChat: what @ai-sdk/react's `Chat` extends) and its
// DefaultChatTransport over real HTTP, against a running `rivulet serve`.
// Prints what the chat holds afterwards, as JSON:
// {"messages": the chat's UIMessages, "status": the chat's status,
//  "error": its error text or null, "streamId": x-rivulet-stream-id of the
//  last response that had one, "requests": [{method, url, status}]}.
//
// Input is one JSON object on stdin: {"api": URL, "token": bearer or null,
// "body": the transport's `body` option, "chatId": the chat's id, "mode":
//  "send": send `text` as a new user message, and once the assistant's
//          text has `stopAfterChars` characters, call stop() (the page
//          going away, as far as the server can tell);
//  "resume": a fresh chat holding `messages` (a page loaded again with the
//          history its app saved) calls resumeStream(), as useChat does on
//          load with `resume: true`}.
//
// The state class is the few lines of bookkeeping a UI binding supplies
// (where @ai-sdk/react keeps the same fields in React state); everything
// else is the SDK's. The fetch wrapper only notes each response's status
// and stream id header before handing the response back untouched.
import { AbstractChat } from "ai";
import { chatTransport, readInput } from "./support.mjs";

class State {
  constructor(messages) {
    this.messages = messages;
    this.status = "ready";
    this.error = undefined;
  }
  pushMessage = (message) => {
    this.messages = this.messages.concat(message);
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (index, message) => {
    this.messages = [
      ...this.messages.slice(0, index),
      this.snapshot(message),
      ...this.messages.slice(index + 1),
    ];
  };
  snapshot = (thing) => structuredClone(thing);
}

const input = await readInput();
const requests = [];
let streamId = null;
const transport = chatTransport(input, (response, url, init) => {
  requests.push({ method: (init && init.method) || "GET", url: String(url), status: response.status });
  const id = response.headers.get("x-rivulet-stream-id");
  if (id) {
    streamId = id;
  }
});
const chat = new AbstractChat({
  id: input.chatId,
  transport,
  state: new State(input.messages || []),
});

function assistantText() {
  const last = chat.lastMessage;
  if (!last || last.role !== "assistant") {
    return "";
  }
  return last.parts
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("");
}

if (input.mode === "send") {
  const sending = chat.sendMessage({ text: input.text });
  const deadline = Date.now() + 10000;
  while (assistantText().length < input.stopAfterChars && chat.status !== "error" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await chat.stop();
  await sending;
} else if (input.mode === "resume") {
  await chat.resumeStream();
} else {
  throw new Error(`unknown mode ${input.mode}`);
}

process.stdout.write(
  JSON.stringify({
    messages: chat.messages,
    status: chat.status,
    error: chat.error ? String(chat.error.message || chat.error) : null,
    streamId,
    requests,
  }) + "\n",
);
