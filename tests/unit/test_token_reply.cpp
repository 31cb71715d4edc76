// test_token_reply.cpp - oauth::parse_token_reply(), the token endpoint's reply.
//
// The pure half of src/oauth/fetch.cpp: a reply body and its HTTP status in,
// the token, its lifetime or the reason out. Good replies (Entra's own
// shape, expires_in quoted, fractional, absurdly long), error replies (the
// provider's AADSTS code from error_description or error_codes, the error
// field cleaned for a log line), missing fields and wrong types. Own runner
// (oauth_tests), so the core's unit_tests do not link libcurl.
#include <string>

#include "oauth/fetch.hpp"

#include "runner.hpp"  // last: check.h defines a fail() macro

using prm::oauth::FetchResult;
using prm::oauth::parse_token_reply;

namespace {

const std::string kEntraOk =
    R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAi.abc.def"})";

// A reply that must fail with ERROR and no token.
void expect_error(long status, const std::string& body, const char* error, const char* code = "") {
    FetchResult r = parse_token_reply(status, body);
    ck_assert_msg(!r.ok, "accepted: %s", body.c_str());
    ck_assert_str_eq(r.error.c_str(), error);
    ck_assert_str_eq(r.code.c_str(), code);
    ck_assert(r.access_token.empty());
    ck_assert_int_eq(r.http_status, status);
}

}  // namespace

START_TEST(good_reply) {
    FetchResult r = parse_token_reply(200, kEntraOk);
    ck_assert(r.ok);
    ck_assert_str_eq(r.access_token.c_str(), "eyJ0eXAi.abc.def");
    ck_assert_int_eq(r.expires_in, 3599);
    ck_assert(r.error.empty() && r.code.empty());
    // Quoted, fractional, absurdly long lifetimes.
    ck_assert_int_eq(parse_token_reply(200, R"({"access_token":"t","expires_in":"3600"})").expires_in, 3600);
    ck_assert_int_eq(parse_token_reply(200, R"({"access_token":"t","expires_in":59.9})").expires_in, 59);
    ck_assert_int_eq(parse_token_reply(200, R"({"access_token":"t","expires_in":99999999999})").expires_in,
                     86400);
    ck_assert_int_eq(parse_token_reply(200, R"({"access_token":"t","expires_in":"999999999"})").expires_in,
                     86400);
    // Unknown fields and token_type are not needed.
    ck_assert(parse_token_reply(200, R"({"access_token":"t","expires_in":1,"x":[1,{}]})").ok);
}
END_TEST

START_TEST(error_replies) {
    // Entra: the code in error_description (and error_codes).
    expect_error(400,
                 R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]})",
                 "invalid_client", "AADSTS7000215");
    expect_error(401,
                 R"({"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app are expired."})",
                 "invalid_client", "AADSTS7000222");
    expect_error(400,
                 R"({"error":"unauthorized_client","error_description":"Trace ID: 1\r\nAADSTS700016: Application with identifier 'x' was not found"})",
                 "unauthorized_client", "AADSTS700016");
    // Only error_codes: the code from its first entry.
    expect_error(400, R"({"error":"invalid_scope","error_codes":[70011,1]})", "invalid_scope", "AADSTS70011");
    // A non-Microsoft endpoint: the error field, no code.
    expect_error(400, R"({"error":"invalid_grant","error_description":"bad grant"})", "invalid_grant");
    // 5xx with a body that is not JSON, or JSON without error.
    expect_error(503, "<html>Service Unavailable</html>", "http_503");
    expect_error(502, "", "http_502");
    expect_error(500, R"({"message":"oops"})", "http_500");
    // An error reply with a token in it is still an error.
    expect_error(400, R"({"error":"invalid_request","access_token":"t","expires_in":3599})", "invalid_request");
    // The error field is untrusted: cleaned for a log line, at most 64 bytes.
    FetchResult r = parse_token_reply(400, R"({"error":"bad client\nsecret=x; rm -rf"})");
    ck_assert_str_eq(r.error.c_str(), "bad?client?secret?x??rm?-rf");
    r = parse_token_reply(400, "{\"error\":\"" + std::string(500, 'e') + "\"}");
    ck_assert_uint_eq(r.error.size(), 64);
    // A code must be AADSTS followed by digits.
    expect_error(400, R"({"error":"x","error_description":"AADSTS: none, AADSTSabc"})", "x");
}
END_TEST

START_TEST(missing_fields) {
    expect_error(200, R"({"token_type":"Bearer","expires_in":3599})", "no_access_token");
    expect_error(200, R"({"access_token":"","expires_in":3599})", "no_access_token");
    expect_error(200, R"({"token_type":"Bearer","access_token":"t"})", "no_expires_in");
    expect_error(200, R"({"access_token":"t","expires_in":0})", "no_expires_in");
    expect_error(200, R"({"access_token":"t","expires_in":-5})", "no_expires_in");
    expect_error(200, R"({"access_token":"t","expires_in":0.5})", "no_expires_in");
    expect_error(200, "{}", "no_access_token");
}
END_TEST

START_TEST(wrong_types) {
    expect_error(200, "<html>not json</html>", "reply_not_json");
    expect_error(200, "", "reply_not_json");
    expect_error(200, R"({"access_token":"t","expires_in":3599)", "reply_not_json");  // cut short
    expect_error(200, R"(["access_token","t"])", "reply_not_json");
    expect_error(200, R"("just a string")", "reply_not_json");
    expect_error(200, R"({"access_token":12345,"expires_in":3599})", "no_access_token");
    expect_error(200, R"({"access_token":["t"],"expires_in":3599})", "no_access_token");
    expect_error(200, R"({"access_token":null,"expires_in":3599})", "no_access_token");
    expect_error(200, R"({"access_token":"t","expires_in":true})", "no_expires_in");
    expect_error(200, R"({"access_token":"t","expires_in":[3599]})", "no_expires_in");
    expect_error(200, R"({"access_token":"t","expires_in":"3599abc"})", "no_expires_in");
    expect_error(200, R"({"access_token":"t","expires_in":"-1"})", "no_expires_in");
    expect_error(200, R"({"access_token":"t","expires_in":""})", "no_expires_in");
    // error and error_codes of other types are ignored, not trusted.
    expect_error(400, R"({"error":42,"error_codes":"7000215"})", "http_400");
    expect_error(400, R"({"error":"invalid_client","error_description":7000215,"error_codes":[{}]})",
                 "invalid_client");
}
END_TEST

int main() {
    Suite* s = suite_create("token_reply");
    TCase* tc = tcase_create("token_reply");
    tcase_add_test(tc, good_reply);
    tcase_add_test(tc, error_replies);
    tcase_add_test(tc, missing_fields);
    tcase_add_test(tc, wrong_types);
    suite_add_tcase(s, tc);
    return prm::test::run_suites({s});
}
