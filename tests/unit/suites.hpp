// suites.hpp - the Check suites of the unit tests, one per core module.
#pragma once
#include <check.h>

Suite* suite_ini();
Suite* suite_categories();
Suite* suite_config();
Suite* suite_partners();
Suite* suite_rfc5322();
Suite* suite_decide();
Suite* suite_actions();
Suite* suite_docs();
Suite* suite_alert();
Suite* suite_hostguard();
Suite* suite_sendmail();
Suite* suite_oauth_partners();
Suite* suite_published();
Suite* suite_reach();
