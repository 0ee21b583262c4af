# Written using only docs/steps.md: the shape a team's second scenario takes
# once the example runs. Same tenant, CRM and settings as our_crm_popup.feature.
@our-integration
Feature: Calls our operators answer, and calls that give up first

  Background:
    Given the BlueBean simulator runs the tenant "tenant.toml"
    And our CRM at "${OUR_CRM}", seen through the recording proxy
    And our program "/opt/agent-tool/bin/agent-tool" is recorded instead of run
    And the softphone uses the settings file "settings.toml"

  Scenario: the operator answers, the caller hangs up, and our CRM was asked once
    When an outside caller 0509876543 calls the outside line 0312340000
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 2001
    When the outside caller hangs up
    Then the call has ended
    And the CRM receives exactly this request for the call
      """
      GET /crm/popup?caller=0509876543&line=0312340000&call={call_id}
      """
    And "agent-tool" is run once with the arguments
      """
      ["--call", "{call_id}", "--caller", "0509876543"]
      """

  Scenario: a caller who gives up before the answer still popped our CRM
    When an outside caller 0501112222 calls the outside line 0312340000
    Then the softphone rings
    When the caller gives up
    Then the softphone reports the popup hook as ok
    And the CRM receives a request
