//! Placeholder: the token-transfer processor lands in the next commit.
flowctl_sdk::map!(ident);
fn ident(e: flowctl_sdk::Event) -> flowctl_sdk::Result<flowctl_sdk::Event> {
    Ok(e)
}
