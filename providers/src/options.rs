//! What every request builder shares about request options: the checks
//! made before anything is sent (a named tool that exists, options a
//! provider cannot honour refused with [`Error::Unsupported`]) and the
//! body with the caller's `extra_body` merged in.

use rivulet_core::{Error, Params, Request, ToolChoice};
use serde::Serialize;
use serde_json::Value;

/// Checks that a named tool choice names one of the request's tools.
pub fn check_tool_choice(provider: &str, request: &Request) -> Result<(), Error> {
    if let Some(ToolChoice::Tool(name)) = &request.params.tool_choice {
        if !request.tools.iter().any(|t| &t.name == name) {
            return Err(Error::bad_request(format!(
                "tool_choice names {name:?}, which is not one of the request's tools"
            ))
            .with_provider(provider));
        }
    }
    Ok(())
}

/// Refuses what a provider without the switch cannot honour: one tool
/// call at a time (`parallel_tool_calls: false`) and more than one choice.
pub fn check_unsupported(
    provider: &str,
    params: &Params,
    parallel_switch: bool,
    choices: bool,
) -> Result<(), Error> {
    if !parallel_switch && params.parallel_tool_calls == Some(false) {
        return Err(crate::media::unsupported(
            provider,
            "parallel_tool_calls: false (it has no switch for it)",
        ));
    }
    if !choices && params.n.is_some_and(|n| n > 1) {
        return Err(crate::media::unsupported(
            provider,
            "more than one choice (n)",
        ));
    }
    Ok(())
}

/// Refuses spoken output on a provider that does not speak.
pub fn check_no_audio(provider: &str, request: &Request) -> Result<(), Error> {
    match &request.audio {
        Some(_) => Err(crate::media::unsupported(provider, "audio output")),
        None => Ok(()),
    }
}

/// The JSON body: `body`, with `extra` merged in last (RFC 7386 merge
/// patch, by the `json-patch` crate). `extra` must be an object: anything
/// else would replace the whole body.
pub fn json_body<T: Serialize>(body: &T, extra: Option<&Value>) -> Result<Vec<u8>, Error> {
    let encode =
        |e: serde_json::Error| Error::bad_request(format!("cannot encode the request: {e}"));
    let Some(extra) = extra else {
        return serde_json::to_vec(body).map_err(encode);
    };
    if !extra.is_object() {
        return Err(Error::bad_request(format!(
            "extra_body must be a JSON object, not {extra}"
        )));
    }
    let mut value = serde_json::to_value(body).map_err(encode)?;
    json_patch::merge(&mut value, extra);
    serde_json::to_vec(&value).map_err(encode)
}

/// The body of `request` as sent: what its protocol's builder made of it
/// (`body`, or the builder's refusal), with the request's `extra_body`
/// merged in ([`json_body`]).
pub(crate) fn request_body<T: Serialize>(
    request: &Request,
    body: Result<T, Error>,
) -> Result<Vec<u8>, Error> {
    json_body(&body?, request.extra_body.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::ToolDefinition;
    use serde_json::json;

    #[test]
    fn extra_body_merges_as_a_merge_patch() {
        let body = json!({"model": "m", "stream": true, "reasoning": {"effort": "low", "summary": "auto"}});
        let extra = json!({"service_tier": "flex", "reasoning": {"summary": null}, "stream": true});
        let got: Value = serde_json::from_slice(&json_body(&body, Some(&extra)).unwrap()).unwrap();
        assert_eq!(
            got,
            json!({"model": "m", "stream": true, "service_tier": "flex", "reasoning": {"effort": "low"}})
        );
        let e = json_body(&body, Some(&json!([1]))).unwrap_err();
        assert_eq!(e.message(), "extra_body must be a JSON object, not [1]");
        assert_eq!(
            json_body(&body, None).unwrap(),
            serde_json::to_vec(&body).unwrap()
        );
    }

    #[test]
    fn a_named_tool_must_exist() {
        let mut r = Request::default();
        r.params.tool_choice = Some(ToolChoice::Tool("f".into()));
        let e = check_tool_choice("openai", &r).unwrap_err();
        assert_eq!(e.kind(), rivulet_core::ErrorKind::BadRequest);
        r.tools.push(ToolDefinition {
            name: "f".into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
        });
        assert!(check_tool_choice("openai", &r).is_ok());
    }
}
