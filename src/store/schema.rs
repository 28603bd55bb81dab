//! Diesel's view of the tables in `migrations/`. Kept by hand in step with the SQL; the
//! migration round-trip test and every store test catch a drift.

diesel::table! {
    orders (mer_order_id) {
        mer_order_id -> Text,
        mid -> Text,
        tid -> Text,
        inst_mid -> Text,
        qr_code_id -> Nullable<Text>,
        bill_qr_code -> Nullable<Text>,
        binding -> Text,
        binding_error -> Nullable<Text>,
        amount_fen -> BigInt,
        paid_amount_fen -> Nullable<BigInt>,
        description -> Nullable<Text>,
        status -> Text,
        provider_status -> Nullable<Text>,
        refunded_amount_fen -> BigInt,
        seq_id -> Nullable<Text>,
        target_order_id -> Nullable<Text>,
        target_sys -> Nullable<Text>,
        pay_time -> Nullable<Text>,
        settle_date -> Nullable<Text>,
        auth_id_resp_code -> Nullable<Text>,
        completion_order_id -> Nullable<Text>,
        preauth -> Bool,
        expire_at -> BigInt,
        review_reason -> Nullable<Text>,
        check_attempts -> Integer,
        next_check_at -> Nullable<BigInt>,
        last_checked_at -> Nullable<BigInt>,
        request_digest -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        version -> BigInt,
        review_flagged_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    order_events (id) {
        id -> BigInt,
        mer_order_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        source -> Text,
        evidence -> Nullable<Text>,
        reason -> Nullable<Text>,
        at -> BigInt,
        operator -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        received_at -> BigInt,
        kind -> Text,
        notify_id -> Nullable<Text>,
        dedup_key -> Nullable<Text>,
        order_ref -> Nullable<Text>,
        raw_body -> Binary,
        content_type -> Nullable<Text>,
        remote_addr -> Nullable<Text>,
        verified -> Bool,
        outcome -> Text,
        detail -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    contracts (contract_no) {
        contract_no -> Text,
        mid -> Text,
        contract_id -> Nullable<Text>,
        contract_state -> Text,
        contract_signed_time -> Nullable<Text>,
        contract_expired_time -> Nullable<Text>,
        single_limit_amt -> Nullable<Text>,
        avl_num -> Nullable<Text>,
        plan_id -> Nullable<Text>,
        request_ts -> BigInt,
        notification_id -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    provider_calls (id) {
        id -> BigInt,
        at -> BigInt,
        operation -> Text,
        mer_order_id -> Nullable<Text>,
        http_status -> Nullable<Integer>,
        err_code -> Nullable<Text>,
        latency_ms -> BigInt,
        outcome -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        event_id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        mer_order_id -> Nullable<Text>,
        order_version -> Nullable<BigInt>,
        contract_no -> Nullable<Text>,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        endpoint -> Text,
        event_seq -> BigInt,
        mer_order_id -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<BigInt>,
        last_attempt_at -> Nullable<BigInt>,
        last_status_code -> Nullable<Integer>,
        last_latency_ms -> Nullable<BigInt>,
        last_excerpt -> Nullable<Text>,
        delivered_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    delivery_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        at -> BigInt,
        status_code -> Nullable<Integer>,
        latency_ms -> BigInt,
        outcome -> Text,
        excerpt -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_cursors (endpoint) {
        endpoint -> Text,
        last_event_seq -> BigInt,
    }
}

diesel::table! {
    payment_attempts (mer_order_id, attempt_id) {
        mer_order_id -> Text,
        attempt_id -> Text,
        source -> Text,
        first_seen_at -> BigInt,
    }
}

diesel::table! {
    refunds (id) {
        id -> BigInt,
        mer_order_id -> Text,
        refund_key -> Text,
        amount_fen -> BigInt,
        reported_at -> BigInt,
        evidence -> Nullable<Text>,
        origin -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        operator -> Nullable<Text>,
        err_code -> Nullable<Text>,
        settled_at -> Nullable<BigInt>,
        check_attempts -> Integer,
        next_check_at -> Nullable<BigInt>,
        version -> BigInt,
    }
}

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        operator -> Text,
        role -> Text,
        csrf -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        flash_kind -> Nullable<Text>,
        flash_detail -> Nullable<Text>,
    }
}

diesel::table! {
    operator_failures (id) {
        id -> BigInt,
        peer -> Text,
        at -> BigInt,
    }
}

diesel::joinable!(order_events -> orders (mer_order_id));
diesel::joinable!(deliveries -> events (event_seq));
diesel::joinable!(delivery_attempts -> deliveries (delivery_id));
diesel::joinable!(payment_attempts -> orders (mer_order_id));
diesel::joinable!(refunds -> orders (mer_order_id));
diesel::allow_tables_to_appear_in_same_query!(
    orders,
    order_events,
    notifications,
    contracts,
    provider_calls,
    events,
    deliveries,
    delivery_attempts,
    webhook_cursors,
    payment_attempts,
    refunds,
    console_sessions,
    operator_failures
);
