//! What code far from the handler may know about the request it is serving: the client's address
//! (worked out by the HTTP edge, `web::client`), for the audit trail. Outside a request (a job, a
//! command) there is none.

use std::future::Future;
use std::net::IpAddr;

tokio::task_local! {
    static CLIENT: IpAddr;
}

/// Runs `work` as the handling of a request from `client`.
pub async fn serving<F: Future>(client: IpAddr, work: F) -> F::Output {
    CLIENT.scope(client, work).await
}

/// The client of the request this task is handling, if any.
pub fn client() -> Option<IpAddr> {
    CLIENT.try_with(|ip| *ip).ok()
}
