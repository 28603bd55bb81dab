//! The console's words in English and Chinese: one table of labels, each given in both
//! languages in the same line, so that a label cannot exist in one language only. It must
//! not hold data (statuses, outcomes and ids are shown as the API spells them).

/// A language of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// The `lang` cookie's and query's spelling, and the page's `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// Reads a spelling back (`en`, `zh`).
    pub fn parse(s: &str) -> Option<Lang> {
        [Lang::En, Lang::Zh].into_iter().find(|l| l.code() == s)
    }

    /// This language's labels.
    pub fn labels(self) -> &'static Labels {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }
}

/// Declares the label table: `name: ("English", "中文")` per label gives the struct
/// [`Labels`] with one field per label, its two instances `EN` and `ZH`, and `ALL` (name,
/// English, Chinese) for the tests.
macro_rules! labels {
    ($($name:ident: ($en:expr, $zh:expr),)*) => {
        /// Every visible label of the console, in one language.
        #[derive(Debug)]
        pub struct Labels {
            $(
                #[doc = $en]
                pub $name: &'static str,
            )*
        }

        /// English.
        pub static EN: Labels = Labels { $($name: $en,)* };
        /// Chinese.
        pub static ZH: Labels = Labels { $($name: $zh,)* };
        /// `(label, English, Chinese)` for every label.
        #[cfg(test)]
        pub const ALL: &[(&str, &str, &str)] = &[$((stringify!($name), $en, $zh),)*];
    };
}

labels! {
    console: ("Operator console", "运营控制台"),
    overview: ("Overview", "概览"),
    orders: ("Orders", "订单"),
    journal: ("Notification journal", "通知日志"),
    sign_in: ("Sign in", "登录"),
    sign_in_title: ("Operator sign-in", "操作员登录"),
    sign_in_hint: ("Sign in with your operator token. It is sent in this form only, never in a link.", "请使用操作员令牌登录。令牌只通过此表单提交，不会出现在链接中。"),
    token: ("Token", "令牌"),
    sign_in_failed: ("That token is not valid.", "令牌无效。"),
    rate_limited: ("Too many failed sign-ins from your address. Wait a minute and try again.", "来自您地址的登录失败次数过多，请一分钟后再试。"),
    sign_out: ("Sign out", "退出登录"),
    signed_in_as: ("Signed in as", "当前用户"),
    role_viewer: ("viewer", "只读"),
    role_operator: ("operator", "操作员"),
    status_counts: ("Orders by status", "各状态订单数"),
    pending_by_age: ("Awaiting the provider, by age", "待渠道确认的订单（按时长）"),
    age: ("Age", "时长"),
    age_lt_1m: ("< 1 min", "< 1 分钟"),
    age_lt_5m: ("< 5 min", "< 5 分钟"),
    age_lt_30m: ("< 30 min", "< 30 分钟"),
    age_lt_2h: ("< 2 h", "< 2 小时"),
    age_lt_24h: ("< 24 h", "< 24 小时"),
    age_ge_24h: ("≥ 24 h", "≥ 24 小时"),
    review_queue: ("Review queue", "待复核队列"),
    review_queue_empty: ("Nothing to review.", "没有待复核的订单。"),
    journal_24h: ("Notifications, last 24 h", "近 24 小时通知"),
    provider_calls_24h: ("Provider calls, last 24 h", "近 24 小时渠道调用"),
    latency_p50: ("Latency, median", "延迟中位数"),
    latency_p95: ("Latency, 95th percentile", "延迟 95 分位"),
    total: ("Total", "合计"),
    webhook_backlog: ("Webhook backlog", "Webhook 待投递"),
    backlog_empty: ("Every event has been delivered.", "所有事件均已投递。"),
    endpoint: ("Endpoint", "端点"),
    undelivered: ("Not delivered", "未投递"),
    oldest: ("Oldest event", "最早事件"),
    chart_payments: ("Payments per hour, last 24 h", "近 24 小时每小时支付笔数"),
    chart_time_to_final: ("Time from payment to PAID", "从支付到入账（PAID）的耗时"),
    chart_payments_desc: ("Bars: orders that became PAID in each hour (UTC).", "柱：每小时（UTC）变为已支付的订单数。"),
    chart_time_desc: ("Bars: orders by seconds from the provider's pay time to the gateway recording PAID.", "柱：按渠道支付时间到网关记录为已支付所用秒数分组的订单数。"),
    nothing_yet: ("Nothing yet.", "暂无数据。"),
    order: ("Order", "订单号"),
    status: ("Status", "状态"),
    reason: ("Reason", "原因"),
    flagged_at: ("Flagged at", "标记时间"),
    outcome: ("Outcome", "结果"),
    count: ("Count", "数量"),
    search: ("Search", "查询"),
    order_id: ("Order id", "订单号"),
    any: ("Any", "全部"),
    review: ("Review", "复核"),
    needs_review: ("Needs review", "需复核"),
    not_flagged: ("Not flagged", "无需复核"),
    filter: ("Filter", "筛选"),
    amount: ("Amount", "金额"),
    paid_amount: ("Paid", "实付"),
    refunded: ("Refunded", "已退款"),
    fen: ("fen", "分"),
    created: ("Created", "创建时间"),
    updated: ("Updated", "更新时间"),
    expires: ("Expires", "过期时间"),
    binding: ("Binding", "绑定"),
    pay_time: ("Pay time (provider, Beijing)", "支付时间（渠道，北京时间）"),
    wallet: ("Wallet", "支付方式"),
    next_page: ("Next page", "下一页"),
    no_orders: ("No order matches.", "没有符合条件的订单。"),
    no_such_order: ("No such order.", "订单不存在。"),
    timeline: ("Timeline", "时间线"),
    at: ("Time", "时间"),
    change: ("Change", "变化"),
    source: ("Source", "来源"),
    note: ("Note", "备注"),
    evidence: ("Evidence", "凭据"),
    journal_rows: ("Notifications for this order", "本订单的通知"),
    provider_calls: ("Provider calls", "渠道调用"),
    deliveries: ("Webhook deliveries", "Webhook 投递"),
    actions: ("Actions", "操作"),
    acknowledge: ("Acknowledge review", "确认复核"),
    acknowledge_hint: ("Clears the flag; the note is kept in the timeline with your name.", "清除复核标记；备注和您的名字将记录在时间线中。"),
    resync: ("Ask the provider now", "立即向渠道查询"),
    resync_hint: ("Queries the provider; the order moves only on its answer.", "向渠道查询；订单状态只根据渠道的答复变化。"),
    redeliver: ("Redeliver", "重新投递"),
    received: ("Received", "接收时间"),
    kind: ("Kind", "类型"),
    detail: ("Detail", "说明"),
    peer: ("Peer", "来源地址"),
    notify_id: ("Notify id", "通知编号"),
    all: ("All", "全部"),
    no_rows: ("None.", "无。"),
    operation: ("Operation", "接口"),
    http_status: ("HTTP status", "HTTP 状态"),
    err_code: ("Error code", "错误码"),
    latency: ("Latency", "延迟"),
    attempts: ("Attempts", "尝试次数"),
    event_type: ("Event", "事件"),
    delivered_at: ("Delivered", "投递时间"),
    next_attempt: ("Next attempt", "下次尝试"),
    flash_acknowledged: ("Review acknowledged.", "已确认复核。"),
    flash_resynced: ("The provider was asked; the order is now", "已向渠道查询；订单当前状态为"),
    flash_redelivered: ("Redelivery scheduled for this many deliveries:", "已安排重新投递，数量："),
    flash_failed: ("Not done:", "未完成："),
    forbidden: ("Your role may read but not act.", "您的角色只能查看，不能操作。"),
    csrf_failed: ("This form was not sent from this console session. Reload the page and try again.", "此表单并非来自当前控制台会话。请刷新页面后重试。"),
    not_found: ("Not found.", "未找到。"),
    internal_error: ("Something went wrong; it has been logged.", "出现内部错误，已记录日志。"),
    unavailable: ("The database is unavailable; try again later.", "数据库暂不可用，请稍后再试。"),
    error_title: ("Error", "错误"),
    back: ("Back to the overview", "返回概览"),
    note_required: ("A note is required.", "必须填写备注。"),
    operator_event: ("operator", "操作员"),
    language: ("Language", "语言"),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_given_in_both_languages() {
        for (name, en, zh) in ALL {
            assert!(!en.trim().is_empty(), "{name}: no English");
            assert!(!zh.trim().is_empty(), "{name}: no Chinese");
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{name}: the Chinese label {zh:?} has no Chinese character"
            );
            assert_ne!(en, zh, "{name}");
        }
    }

    #[test]
    fn the_two_tables_are_the_ones_each_language_shows() {
        assert_eq!(Lang::En.labels().overview, "Overview");
        assert_eq!(Lang::Zh.labels().overview, "概览");
        assert_eq!(Lang::parse("zh"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::default(), Lang::En);
    }
}
