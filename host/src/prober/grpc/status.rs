//! grpc-go's status error text (`rpc error: code = NotFound desc = …`), with its code names.

/// The name grpc-go's `codes.Code.String()` gives `code` (`Canceled`, not
/// tonic's `Cancelled`).
pub fn go_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "Canceled",
        C::Unknown => "Unknown",
        C::InvalidArgument => "InvalidArgument",
        C::DeadlineExceeded => "DeadlineExceeded",
        C::NotFound => "NotFound",
        C::AlreadyExists => "AlreadyExists",
        C::PermissionDenied => "PermissionDenied",
        C::ResourceExhausted => "ResourceExhausted",
        C::FailedPrecondition => "FailedPrecondition",
        C::Aborted => "Aborted",
        C::OutOfRange => "OutOfRange",
        C::Unimplemented => "Unimplemented",
        C::Internal => "Internal",
        C::Unavailable => "Unavailable",
        C::DataLoss => "DataLoss",
        C::Unauthenticated => "Unauthenticated",
    }
}

/// grpc-go's text for a status error: `rpc error: code = NotFound desc = unknown service`.
pub fn go_status_error(status: &tonic::Status) -> String {
    format!(
        "rpc error: code = {} desc = {}",
        go_code_name(status.code()),
        status.message()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_uses_go_code_names() {
        let st = tonic::Status::cancelled("gone");
        assert_eq!(
            go_status_error(&st),
            "rpc error: code = Canceled desc = gone"
        );
        let st = tonic::Status::not_found("service not registered");
        assert_eq!(
            go_status_error(&st),
            "rpc error: code = NotFound desc = service not registered"
        );
    }
}
