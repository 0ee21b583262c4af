# WEB-4 (detail view, GET only) and WEB-5 (open it on ring). The browser is
# an argv recorder: it writes down the URL it was given and, with
# --rec-fetch, fetches it from the mock CRM as a browser would. With no
# browser set up, the softphone hands the URL to the desktop's default
# opener (xdg-open); those scenarios run the softphone in a desktop of
# their own whose default web browser is that recorder.
@WEB-4
Feature: The detail view in the browser
  The popup's Details action opens the CRM's detail screen in the web
  browser, with the call's values in the URL's query. The detail view is
  GET only.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: Details opens the detail view with the call's values
    Given a softphone for extension 1910 with the settings
      """
      [operator]
      login_id = "op-7"

      [web.detail]
      url = "{crm}/crm/customer?view=full"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      callid=%CallId%
      opid=%OpId%
      '''
      browser = "{recorder:browser} --rec-fetch"

      [command]
      on_ring = "{recorder:on-ring} ring"
      """
    When an outside caller +81312345678 calls the outside line 0312345678
    Then the softphone rings
    And the softphone reports the command_ring hook as ok
    And "browser" is not run
    When the operator runs "bbclient details"
    Then "browser" is run once with the arguments
      """
      ["--rec-fetch", "{crm}/crm/customer?view=full&number=%2B81312345678&outline=0312345678&callid={call_id_encoded}&opid=op-7"]
      """
    And the CRM receives exactly this request for the call
      """
      GET /crm/customer?view=full&number=%2B81312345678&outline=0312345678&callid={call_id}&opid=op-7
      """
    And the softphone reports the details hook as ok

  Scenario: with no browser set up, Details opens the detail view in the desktop's default browser
    Given a desktop whose default web browser fetches the pages it is given
    And a softphone for extension 1910 in that desktop, with the settings
      """
      [web.detail]
      url = "{crm}/crm/customer?view=full"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      callid=%CallId%
      '''
      """
    When an outside caller +81312345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient details"
    Then the CRM receives exactly this request for the call
      """
      GET /crm/customer?view=full&number=%2B81312345678&outline=0312345678&callid={call_id}
      """
    And the desktop's default browser is opened once, with the detail URL of the call "{crm}/crm/customer?view=full&number=%2B81312345678&outline=0312345678&callid={call_id}"

  @WEB-5
  Scenario: with no browser set up, launch-browser-on-ring opens the desktop's default browser
    Given a desktop whose default web browser fetches the pages it is given
    And a softphone for extension 1910 in that desktop, with the settings
      """
      [web.detail]
      url = "{crm}/crm/customer"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''
      open_browser_on_ring = true
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request for the call
      """
      GET /crm/customer?number=09012345678&outline=0312345678
      """
    And the desktop's default browser is opened once, with the detail URL of the call "{crm}/crm/customer?number=09012345678&outline=0312345678"

  Scenario: Details still opens the detail view after the call ended
    Given a softphone for extension 1910 with the settings
      """
      [web.detail]
      url = "{crm}/crm/customer"
      params = "number=%CallerNumber%"
      browser = "{recorder:browser}"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the outside caller hangs up
    Then the call has ended
    And the softphone's output says "hung up: remote_hangup"
    When the operator runs "bbclient details"
    Then "browser" is run once with the arguments
      """
      ["{crm}/crm/customer?number=09012345678"]
      """

  Scenario: Details without a detail view set up is refused with a reason
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And running "bbclient details" fails with "no detail view is configured"

  Scenario: a detail view set up for POST is refused at start
    When the softphone for extension 1910 is started with the settings
      """
      [web.detail]
      method = "POST"
      url = "{crm}/crm/customer"
      params = "number=%CallerNumber%"
      """
    Then it exits with status 2 and one line on stderr naming "web.detail"

  Scenario: a detail view set up for post in lower case is refused too
    When the softphone for extension 1910 is started with the settings
      """
      [web.detail]
      method = "post"
      url = "{crm}/crm/customer"
      """
    Then it exits with status 2 and one line on stderr naming "GET"

  @WEB-5
  Scenario: launch-browser-on-ring opens the detail view as the call comes in
    Given a softphone for extension 1910 with the settings
      """
      [web.detail]
      url = "{crm}/crm/customer"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''
      open_browser_on_ring = true
      browser = "{recorder:browser} --rec-fetch"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "browser" is run once with the arguments
      """
      ["--rec-fetch", "{crm}/crm/customer?number=09012345678&outline=0312345678"]
      """
    And the CRM receives exactly this request for the call
      """
      GET /crm/customer?number=09012345678&outline=0312345678
      """

  @WEB-5
  Scenario: without launch-browser-on-ring nothing opens until Details is pressed
    Given a softphone for extension 1910 with the settings
      """
      [web.detail]
      url = "{crm}/crm/customer"
      params = "number=%CallerNumber%"
      open_browser_on_ring = false
      browser = "{recorder:browser}"

      [command]
      on_ring = "{recorder:on-ring} ring"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And "on-ring" is run once with the arguments
      """
      ["ring"]
      """
    And the softphone reports the command_ring hook as ok
    And "browser" is not run
    When the operator runs "bbclient details"
    Then "browser" is run once with the arguments
      """
      ["{crm}/crm/customer?number=09012345678"]
      """
