// What the scripts share: reading their input, and the transport `useChat`
// uses, pointed at a running `rivulet serve`.
import { DefaultChatTransport } from "ai";

// All of stdin, as bytes.
export async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// The script's input: one JSON object on stdin.
export async function readInput() {
  return JSON.parse((await readStdin()).toString("utf8"));
}

// The AI SDK's DefaultChatTransport at `input.api`, with the bearer token
// and the `body` option from the input. Its fetch is the global one; the
// wrapper only shows `onResponse` each response (and the request's init)
// before handing the response back untouched.
export function chatTransport(input, onResponse) {
  return new DefaultChatTransport({
    api: input.api,
    headers: input.token ? { authorization: `Bearer ${input.token}` } : {},
    body: input.body,
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      onResponse(response, url, init);
      return response;
    },
  });
}
