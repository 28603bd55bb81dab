//! `POST /v1/token/access`: the token endpoint. It must not echo the signature or the
//! token but in the answer that issues it.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};

use crate::chinaums::wire::{self, TokenRequest, TokenResponse, TOKEN_SUCCESS};
use crate::secret::Secret;

use crate::sandbox::auth::AuthFailure;
use crate::sandbox::calls::Call;
use crate::sandbox::Shared;

use super::{auth_refusal, is_json};
use crate::chinaums::Operation;

/// `POST /v1/token/access`.
pub async fn token(req: HttpRequest, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    let now = shared.now();
    let json = if is_json(&req) {
        Ok(())
    } else {
        Err(AuthFailure::BadTokenRequest(
            "Content-Type: must be application/json".into(),
        ))
    };
    let request = json
        .and_then(|()| {
            wire::from_json::<TokenRequest>(&body)
                .map_err(|e| AuthFailure::BadTokenRequest(e.to_string()))
        })
        .and_then(|r| {
            r.validate()
                .map(|()| r)
                .map_err(|e| AuthFailure::BadTokenRequest(e.to_string()))
        });
    let app_id = request.as_ref().ok().map(|r| r.app_id.clone());
    let issued = request.and_then(|r| {
        shared.auth().issue(
            &r.app_id,
            &r.timestamp,
            &r.nonce,
            |key| r.verify(key),
            &shared.creds,
            shared.policy,
            now,
        )
    });
    let (response, call) = match issued {
        Ok((token, expires_in)) => (
            HttpResponse::Ok().json(TokenResponse {
                err_code: TOKEN_SUCCESS.to_owned(),
                err_info: "正常".to_owned(),
                access_token: Some(Secret::new(token)),
                expires_in: Some(expires_in),
            }),
            (true, StatusCode::OK, TOKEN_SUCCESS),
        ),
        Err(failure) => (
            auth_refusal(&failure),
            (false, failure.status(), failure.code()),
        ),
    };
    let (verified, status, code) = call;
    shared.calls().record(
        Call {
            path: Operation::Token.path().to_owned(),
            app_id,
            auth_scheme: None,
            auth_verified: verified,
            http_status: status.as_u16(),
            err_code: Some(code.to_owned()),
            fault: None,
        },
        now,
    );
    response
}
