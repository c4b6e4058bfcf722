//! `POST /v1/chat/completions` bodies, as any client may send them: the
//! server's parser answers every body with a call or an `ApiError`, and
//! never panics (images and files as `data:` URLs, tool calls and outputs,
//! every field's type are the client's choice).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rivulet_server::openai_compat::parse_request;

fuzz_target!(|body: &[u8]| {
    let _ = parse_request(body);
});
