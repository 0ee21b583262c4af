# Copy this folder, change the files to your own, and run it:
#   OUR_CRM=http://your-crm:8080 cargo xtask test --features path/to/folder
# Every step used here is in docs/steps.md.
@our-integration
Feature: Our support line pops our CRM's customer card and starts our agent tool

  Background:
    Given the BlueBean simulator runs the tenant "tenant.toml"
    And our CRM at "${OUR_CRM}", seen through the recording proxy
    And our program "/opt/agent-tool/bin/agent-tool" is recorded instead of run
    And the softphone uses the settings file "settings.toml"

  Scenario: an outside call to our support line pops the caller's customer card
    When an outside caller 0501234567 calls the outside line 0312340000
    Then the softphone rings
    And the CRM receives exactly this request for the call
      """
      GET /crm/popup?caller=0501234567&line=0312340000&call={call_id}
      """
    And the softphone reports the popup hook as ok
    And the popup shows "Customer card"

  Scenario: Details opens our CRM's page for the call in the browser
    When an outside caller 0501234567 calls the outside line 0312340000
    Then the softphone rings
    When the operator runs "bbclient details"
    Then the CRM receives these requests for the call, in this order
      """
      GET /crm/popup?caller=0501234567&line=0312340000&call={call_id}
      ---
      GET /crm/detail?call={call_id}
      """
    And the desktop's default browser is opened once, with the detail URL of the call "{crm}/crm/detail?call={call_id}"

  Scenario: our agent tool starts with the call's Call-ID on ring
    When an outside caller 0501234567 calls the outside line 0312340000
    Then the softphone rings
    And "agent-tool" is run once with the arguments
      """
      ["--call", "{call_id}", "--caller", "0501234567"]
      """
